"""What the platform reports about each organisation: usage counters, failed calls, vault size."""

from datetime import datetime, timedelta

from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper
from django.utils import timezone

ERROR_MESSAGE_MAX_LENGTH = 1000


class DailyMethodCount(models.Model):
    """Calls (and failed calls) of one API method by one organisation on one UTC day.

    Ingestion adds to these rows with an upsert, so concurrent batches never lose a count.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    method = models.CharField(max_length=64)
    day = models.DateField(help_text="The UTC date of the calls.")
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "daily method count"
        ordering = ["-day", "method"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "method", "day"], name="dailymethodcount_org_method_day"),
            models.CheckConstraint(
                condition=models.Q(errors__gte=0) & models.Q(calls__gte=models.F("errors")),
                name="dailymethodcount_errors_within_calls",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "day"], name="dailymethodcount_org_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.method}: {self.calls} calls, {self.errors} errors"


BUCKET_MINUTES = 5
BUCKET = timedelta(minutes=BUCKET_MINUTES)


def bucket_start(at: datetime) -> datetime:
    """The start of the 5-minute slot that holds ``at`` (slots are aligned on the hour, in UTC)."""
    return at.replace(minute=at.minute - at.minute % BUCKET_MINUTES, second=0, microsecond=0)


class FiveMinuteMethodCount(models.Model):
    """Calls (and failed calls) of one API method by one organisation in one 5-minute slot (UTC).

    Ingestion adds to these beside the daily counters, with the same kind of upsert; they are kept
    only BUCKET_RETENTION (services.delete_old_method_buckets). Error alarms read them: summing at
    most a day of slots costs the same however large the error log is.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    method = models.CharField(max_length=64)
    start = models.DateTimeField(help_text="The start of the 5-minute slot (UTC, a multiple of 5 minutes).")
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "5-minute method count"
        ordering = ["-start", "method"]
        constraints = [
            # Also the index an alarm's read uses: (organisation, method, start) or its prefix.
            models.UniqueConstraint(
                fields=["organisation", "method", "start"], name="fiveminutecount_org_method_start"
            ),
            models.CheckConstraint(
                condition=models.Q(errors__gte=0) & models.Q(calls__gte=models.F("errors")),
                name="fiveminutecount_errors_within_calls",
            ),
        ]
        # The retention deletes the oldest slots of every organisation along this index.
        indexes = [models.Index(fields=["start"], name="fiveminutecount_start")]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} {self.method}: {self.calls} calls, {self.errors} errors"


class ErrorLog(models.Model):
    """One failed API call, as the platform reported it. Kept ERROR_LOG_RETENTION_DAYS days."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    at = models.DateTimeField()
    method = models.CharField(max_length=64)
    code = models.CharField(max_length=64)
    message = models.TextField(blank=True, validators=[MaxLengthValidator(ERROR_MESSAGE_MAX_LENGTH)])
    request_id = models.CharField(max_length=128)
    source_ip = models.GenericIPAddressField()

    class Meta:
        verbose_name = "error log entry"
        verbose_name_plural = "error log"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "-at"], name="errorlog_org_at"),
            models.Index(fields=["organisation", "method", "-at"], name="errorlog_org_method_at"),
            # The code filter is case-insensitive (UPPER(code) on both sides): indexed as it is read.
            models.Index(F("organisation"), Upper("code"), F("at").desc(), name="errorlog_org_code_upper_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.method} {self.code}"


class IngestedBatch(models.Model):
    """A usage batch already counted: its unique batch_id is how a resent batch counts once."""

    batch_id = models.CharField(max_length=128, unique=True)
    received_at = models.DateTimeField(default=timezone.now)
    key = models.ForeignKey(
        "platform_api.PlatformKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    events = models.PositiveIntegerField()

    class Meta:
        verbose_name = "ingested batch"
        verbose_name_plural = "ingested batches"
        ordering = ["-received_at"]
        # services.delete_old_ingested_batches walks the oldest rows in chunks along this index.
        indexes = [models.Index(fields=["received_at"], name="ingestedbatch_received_at")]

    def __str__(self) -> str:
        return f"{self.batch_id} ({self.events} events)"


class VaultStat(models.Model):
    """How many tokens an organisation's vault held at a time; the newest is the current count."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    at = models.DateTimeField()
    token_count = models.BigIntegerField(validators=[MinValueValidator(0)])

    class Meta:
        verbose_name = "vault statistic"
        ordering = ["-at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(token_count__gte=0), name="vaultstat_token_count_not_negative")
        ]
        indexes = [models.Index(fields=["organisation", "-at"], name="vaultstat_org_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.token_count} tokens"
