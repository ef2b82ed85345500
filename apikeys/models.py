"""Customers' own keys for the platform's API (issue 20): scoped to functions and addresses, rolled
with an overlap, revoked at once. Only a SHA-256 of each secret is kept (docs/security.md says why).

A key is what the customer names and scopes; each secret it has had is a row of ``ApiKeySecret``.
Rolling a key adds a secret and gives the previous ones an end (the overlap), so during the
overlap the platform's gateways accept both and the customer's servers can switch over.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organisation

NAME_MAX_LENGTH = 100
# The longest normalised CIDR ("ffff:…:ffff/128"), as for whitelist entries.
NETWORK_MAX_LENGTH = 43
# "ak_" + environment + "_" + 12 hex digits; room to spare.
PREFIX_MAX_LENGTH = 32
ALL_METHODS = "*"


class PlatformMethod(models.TextChoices):
    """The functions of the platform's API a key can be allowed to call (the dashboard's methods)."""

    TOKENIZE = "Tokenize", "Tokenize"
    DETOKENIZE = "Detokenize", "Detokenize"
    VALIDATE = "Validate", "Validate"
    SEARCH = "Search", "Search"
    DELETE = "Delete", "Delete"
    BATCH_TOKENIZE = "BatchTokenize", "BatchTokenize"


class ApiKey(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="api_keys")
    environment = models.CharField(
        max_length=16, help_text="The portal's PORTAL_ENVIRONMENT when the key was made: its keys only work there."
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # ["*"] for every function, including ones the platform adds later; else names, sorted.
    methods = models.JSONField(default=list)
    # Normalised CIDRs inside the organisation's whitelist; empty: the whitelist alone decides.
    addresses = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "environment"], name="apikey_org_environment")]
        constraints = [
            models.UniqueConstraint(
                "organisation",
                "environment",
                "name",
                condition=models.Q(revoked_at__isnull=True),
                name="apikey_unique_active_name",
                violation_error_message="Another key of the organisation already has this name.",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="apikey_has_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def all_methods(self) -> bool:
        return ALL_METHODS in self.methods

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_active(self, now: datetime) -> bool:
        return not self.is_revoked() and not self.is_expired(now)


class ApiKeySecret(models.Model):
    """One secret of a key. ``prefix`` is its visible, unique start; ``secret_hash`` the SHA-256 (hex)
    of the whole secret. ``valid_until`` is set when a roll or a revocation ends it."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="secrets")
    prefix = models.CharField(max_length=PREFIX_MAX_LENGTH, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key secret"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    def ends_at(self) -> datetime | None:
        """When this secret stops working: its own end, the key's expiry or revocation, whichever is first."""
        ends = [t for t in (self.valid_until, self.key.expires_at, self.key.revoked_at) if t is not None]
        return min(ends) if ends else None

    def is_valid(self, now: datetime) -> bool:
        ends = self.ends_at()
        return self.created_at <= now and (ends is None or now < ends)


class Overlap(models.TextChoices):
    """How long the secret being replaced keeps working after a roll."""

    NONE = "none", "No overlap: the current secret stops working at once"
    HOUR = "1h", "1 hour"
    DAY = "24h", "24 hours"
    WEEK = "7d", "7 days"


OVERLAP_DURATIONS = {
    Overlap.NONE: timedelta(0),
    Overlap.HOUR: timedelta(hours=1),
    Overlap.DAY: timedelta(hours=24),
    Overlap.WEEK: timedelta(days=7),
}


class ApiKeyDailyUse(models.Model):
    """Calls the platform reported with one key on one UTC day, and the last one's time.

    Usage ingestion adds to these rows with one upsert per batch (apikeys.services.record_key_use),
    whichever of the key's secrets the calls used. Kept for good, like the dashboard's daily counters:
    at most one row per key and day.
    """

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="daily_uses", db_index=False)
    day = models.DateField(help_text="The UTC date of the calls.")
    calls = models.BigIntegerField(default=0)
    last_used_at = models.DateTimeField()

    class Meta:
        verbose_name = "API key daily use"
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["key", "day"], name="apikeydailyuse_key_day"),
            models.CheckConstraint(condition=models.Q(calls__gte=1), name="apikeydailyuse_calls_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.key} on {self.day}: {self.calls}"
