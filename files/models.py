from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from files.storage import get_private_storage

# The name an extract encrypted with age ends in (extracts.encryption.SUFFIX).
AGE_SUFFIX = ".age"


class Section(models.TextChoices):
    COMPLIANCE = "compliance", "Compliance"
    OTHER = "other", "Other files"
    EXTRACTS = "extracts", "Token extracts"


class DocumentType(models.TextChoices):
    """What a compliance document is, set by support when reviewing it."""

    INCORPORATION = "incorporation", "Certificate of incorporation"
    PCI_DSS = "pci_dss", "PCI DSS attestation"
    SOC2 = "soc2", "SOC 2 report"
    INSURANCE = "insurance", "Insurance certificate"
    OTHER = "other", "Other"


class StoredFile(models.Model):
    """A customer file kept in the private storage; downloaded only through an authorised view."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="files")
    section = models.CharField(max_length=12, choices=Section.choices)
    name = models.CharField(max_length=150, help_text="The cleaned name shown and used for downloads.")
    file = models.FileField(upload_to="files/%Y/%m/", storage=get_private_storage, max_length=300)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64)
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expired_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the retention period ended and the content was deleted (token extracts only); "
        "the entry stays so the File Manager can say so.",
    )

    document_type = models.CharField(max_length=20, choices=DocumentType.choices, blank=True)
    expires_on = models.DateField(
        null=True,
        blank=True,
        help_text="The last day the compliance document is valid; its organisation's admins are emailed "
        "30 and 7 days before and on that day.",
    )

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["organisation", "section", "-uploaded_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(section__in=Section.values), name="stored_file_known_section"),
            models.CheckConstraint(
                condition=Q(reviewed_at__isnull=True) | Q(section=Section.COMPLIANCE),
                name="stored_file_only_compliance_is_reviewed",
            ),
            models.CheckConstraint(
                condition=Q(expired_at__isnull=True) | Q(section=Section.EXTRACTS),
                name="stored_file_only_extracts_expire",
            ),
            models.CheckConstraint(
                condition=(Q(expires_on__isnull=True) & Q(document_type="")) | Q(section=Section.COMPLIANCE),
                name="stored_file_only_compliance_has_a_document_expiry",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def sha256_short(self) -> str:
        return self.sha256[:12]

    @property
    def is_expired(self) -> bool:
        return self.expired_at is not None

    @property
    def is_encrypted(self) -> bool:
        """A token extract encrypted with age to the organisation's key (extracts/encryption.py)."""
        return self.section == Section.EXTRACTS and self.name.endswith(AGE_SUFFIX)

    @property
    def decrypted_name(self) -> str:
        return self.name.removesuffix(AGE_SUFFIX)

    @property
    def is_reviewed(self) -> bool:
        return self.reviewed_at is not None

    @property
    def document_state(self) -> str:
        """ "expired" from the expiry date on, "expiring" in the 30 days before, else ""."""
        return document_state(self.expires_on, timezone.localdate())


def document_state(expires_on: date | None, today: date) -> str:
    if expires_on is None:
        return ""
    if expires_on <= today:
        return "expired"
    if expires_on <= today + timedelta(days=EXPIRY_WARNING_DAYS):
        return "expiring"
    return ""


# Days before a compliance document's expiry its admins are emailed (0: on the day itself).
EXPIRY_THRESHOLDS = (30, 7, 0)
EXPIRY_WARNING_DAYS = max(EXPIRY_THRESHOLDS)


class ExpiryNotice(models.Model):
    """One expiry email sent for a document and threshold: the unique row makes it happen once,
    however often (or however concurrently) the daily task runs."""

    stored_file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="expiry_notices")
    days_before = models.PositiveSmallIntegerField()
    expires_on = models.DateField(help_text="The expiry date the notice was about.")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stored_file", "expires_on", "days_before"], name="expiry_notice_once_per_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stored_file} ({self.days_before} days before {self.expires_on})"
