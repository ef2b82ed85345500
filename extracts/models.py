from django.conf import settings
from django.db import models

from extracts.encryption import short_form


class Kind(models.TextChoices):
    ONE_OFF = "one_off", "One-off"
    SCHEDULED = "scheduled", "Scheduled"


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    # Done, then its file was deleted after EXTRACT_RETENTION_DAYS (services.expire_old_extract_files).
    EXPIRED = "expired", "Expired"


ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)


class ExtractRequest(models.Model):
    """One extract of an organisation's vault tokens into a gzip CSV in the File Manager (SPEC §6).

    ``rows_written`` and ``progress`` are updated after every chunk, each in its own committed
    UPDATE, so the page shows a running extract's progress; ``heartbeat_at`` goes with them and
    tells a live worker from a lost one.
    """

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="extracts")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ONE_OFF)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    failure_reason = models.CharField(max_length=300, blank=True)
    rows_written = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Counted in the vault when the extract starts; exact once it is done."
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent.")
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker started it; more than one when a worker was lost part-way."
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    file = models.ForeignKey(
        "files.StoredFile", null=True, blank=True, on_delete=models.SET_NULL, related_name="extracts"
    )
    encrypted_to = models.CharField(
        max_length=100,
        blank=True,
        help_text="The age public key the file was encrypted to (the organisation's key when it was written); "
        "empty: a plain gzip CSV.",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-requested_at"])]
        constraints = [
            # The database's last word on "running the same extract twice at once is refused".
            models.UniqueConstraint(
                fields=["organisation"],
                condition=models.Q(status__in=ACTIVE_STATUSES),
                name="extract_one_active_per_organisation",
                violation_error_message="A token extract for this organisation is already queued or running.",
            ),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="extract_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"Token extract #{self.pk} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def encrypted_to_short(self) -> str:
        return short_form(self.encrypted_to) if self.encrypted_to else ""


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class ExtractSchedule(models.Model):
    """An organisation's recurring extract; one per organisation, switched off rather than deleted.

    ``first_run_at`` anchors the series: a monthly schedule started on 31 January runs on the
    last day of shorter months and on the 31st again when the month has one.
    """

    organisation = models.OneToOneField(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="extract_schedule"
    )
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    first_run_at = models.DateTimeField()
    next_run_at = models.DateTimeField()
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["active", "next_run_at"])]

    def __str__(self) -> str:
        return f"{self.get_frequency_display()} token extract for {self.organisation}"


class ExtractKey(models.Model):
    """The age public key (an X25519 recipient, ``age1…``) an organisation's extracts are encrypted
    to; at most one per organisation, deleted when the admins remove it (extracts/encryption.py).

    Only the public half is ever here: the portal can encrypt to it and nobody at the portal can
    decrypt what it wrote.
    """

    organisation = models.OneToOneField("accounts.Organisation", on_delete=models.CASCADE, related_name="extract_key")
    recipient = models.CharField(max_length=100, help_text="The age public key, age1…")
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Extract key of {self.organisation} ({self.short_form})"

    @property
    def short_form(self) -> str:
        return short_form(self.recipient)
