from django.conf import settings
from django.db import models
from django.db.models import Q

from files.storage import get_private_storage


class Section(models.TextChoices):
    COMPLIANCE = "compliance", "Compliance"
    OTHER = "other", "Other files"
    EXTRACTS = "extracts", "Token extracts"


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
    def is_reviewed(self) -> bool:
        return self.reviewed_at is not None
