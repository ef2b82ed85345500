import ipaddress

from django.conf import settings
from django.db import models

from accounts.models import Organisation

# The longest normalised CIDR: eight full IPv6 groups and "/128".
NETWORK_MAX_LENGTH = 43
DESCRIPTION_MAX_LENGTH = 200


class WhitelistEntry(models.Model):
    """One network allowed to call the platform's API for an organisation (SPEC §5).

    ``network`` holds the normalised CIDR text that ``ipaddress`` prints ("203.0.113.0/24",
    "2001:db8::/48", "198.51.100.7/32"); only whitelist.services writes it, after validation.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="whitelist_entries")
    network = models.CharField(max_length=NETWORK_MAX_LENGTH)
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    # Who answers for the entry (a user of the organisation; the adder unless chosen otherwise).
    # The description is the entry's reason: what calls the API from here, and so why it may.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Optional: on this date the entry is removed by the periodic task (the admins are told 7 days ahead).
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = "whitelist entry"
        verbose_name_plural = "whitelist entries"
        ordering = ["added_at", "id"]
        constraints = [
            # Also the index the organisation's list and the platform's read use.
            models.UniqueConstraint(
                fields=["organisation", "network"],
                name="whitelist_entry_unique_network_per_organisation",
                violation_error_message="This network is already on the organisation's whitelist.",
            ),
            models.CheckConstraint(condition=~models.Q(description=""), name="whitelist_entry_has_description"),
        ]
        indexes = [
            # The periodic task's read across organisations: only entries that have an expiry date.
            models.Index(
                fields=["expires_on"], condition=models.Q(expires_on__isnull=False), name="whitelist_entry_expires_on"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.network} ({self.description})"

    @property
    def is_single_address(self) -> bool:
        return ipaddress.ip_network(self.network).num_addresses == 1

    @property
    def kind(self) -> str:
        return "address" if self.is_single_address else "range"


class ExpiryNotice(models.Model):
    """The "expires in 7 days" email sent for an entry and expiry date: the unique row makes it
    happen once, however often (or however concurrently) the periodic task runs. A new expiry
    date gets its own notice."""

    entry = models.ForeignKey(WhitelistEntry, on_delete=models.CASCADE, related_name="expiry_notices")
    expires_on = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entry", "expires_on"], name="whitelist_expiry_notice_once_per_date"),
        ]

    def __str__(self) -> str:
        return f"{self.entry.network} expires on {self.expires_on}"


class DailySourceCount(models.Model):
    """Calls the platform received from one source address for an organisation on one UTC day.

    Written from usage events that name their ``source_ip`` (dashboard.ingest), one row per
    address and day, never per call: the whitelist page reads it to say how many calls an entry
    let through before it is removed.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    address = models.GenericIPAddressField()
    calls = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of the page's read: one organisation's days in a range, every address.
            models.UniqueConstraint(fields=["organisation", "day", "address"], name="dailysourcecount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.address} on {self.day}: {self.calls}"
