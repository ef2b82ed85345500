"""Error alarms an organisation's admins define, what they noticed, and the webhook they are sent to."""

from decimal import Decimal

from django.conf import settings
from django.db import models

NAME_MAX_LENGTH = 100
URL_MAX_LENGTH = 500
# Windows an alarm can watch: whole 5-minute slots of the usage counters, from 5 minutes to a day.
WINDOW_CHOICES = [
    (5, "5 minutes"),
    (10, "10 minutes"),
    (15, "15 minutes"),
    (30, "30 minutes"),
    (60, "1 hour"),
    (120, "2 hours"),
    (180, "3 hours"),
    (360, "6 hours"),
    (720, "12 hours"),
    (1440, "24 hours"),
]
MAX_RATE = Decimal(100)


class Metric(models.TextChoices):
    ERROR_COUNT = "error_count", "Failed calls"
    ERROR_RATE = "error_rate", "Error rate (%)"


class State(models.TextChoices):
    OK = "ok", "OK"
    FIRING = "firing", "Firing"


class Alarm(models.Model):
    """Fires when the failed calls (or their share of all calls) of one method, or of all methods,
    reach a threshold within a window; recovers when they fall below it again. Only
    alarms.services writes it, after checking the rules the constraints below hold too."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="alarms")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    method = models.CharField(max_length=64, blank=True, help_text="Empty: all methods together.")
    metric = models.CharField(max_length=12, choices=Metric.choices)
    window_minutes = models.PositiveSmallIntegerField(choices=WINDOW_CHOICES)
    threshold = models.DecimalField(max_digits=12, decimal_places=2)
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OK)
    state_since = models.DateTimeField(null=True, blank=True)
    last_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    # The last evaluation that read the threshold or more: a firing alarm recovers only
    # ALARM_RECOVERY_MINUTES after it, so a reading hovering at the threshold does not flap.
    last_breach_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"],
                name="alarm_unique_name_per_organisation",
                violation_error_message="Your organisation already has an alarm with this name.",
            ),
            models.CheckConstraint(condition=models.Q(threshold__gt=0), name="alarm_threshold_positive"),
            models.CheckConstraint(
                condition=models.Q(metric=Metric.ERROR_COUNT) | models.Q(threshold__lte=MAX_RATE),
                name="alarm_rate_at_most_100",
            ),
            models.CheckConstraint(
                condition=models.Q(window_minutes__in=[minutes for minutes, _ in WINDOW_CHOICES]),
                name="alarm_window_choices",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_firing(self) -> bool:
        return self.state == State.FIRING

    @property
    def scope(self) -> str:
        return self.method or "all methods"

    @property
    def condition(self) -> str:
        """In words: "error rate of Tokenize ≥ 5% over 15 minutes"."""
        return describe(self.metric, self.method, self.threshold, self.window_minutes)


def show_number(value: Decimal) -> str:
    """5, 2.5, 100: as typed, without the stored trailing zeros."""
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}".rstrip("0")


def show_threshold(metric: str, value: Decimal) -> str:
    """5 (failed calls) or 2.5% (error rate)."""
    text = show_number(value)
    return f"{text}%" if metric == Metric.ERROR_RATE else text


def describe(metric: str, method: str, threshold: Decimal, window_minutes: int) -> str:
    window = dict(WINDOW_CHOICES).get(window_minutes, f"{window_minutes} minutes")
    what = "error rate" if metric == Metric.ERROR_RATE else "failed calls"
    return f"{what} of {method or 'all methods'} ≥ {show_threshold(metric, threshold)} over {window}"


class EventKind(models.TextChoices):
    FIRED = "fired", "Fired"
    RECOVERED = "recovered", "Recovered"


class AlarmEvent(models.Model):
    """An alarm fired or recovered: the history page. The alarm's definition is copied, so the
    history still reads right after the alarm is changed or deleted."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    alarm = models.ForeignKey(Alarm, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    alarm_name = models.CharField(max_length=NAME_MAX_LENGTH)
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    at = models.DateTimeField()
    method = models.CharField(max_length=64, blank=True)
    metric = models.CharField(max_length=12, choices=Metric.choices)
    window_minutes = models.PositiveSmallIntegerField()
    threshold = models.DecimalField(max_digits=12, decimal_places=2)
    value = models.DecimalField(max_digits=14, decimal_places=2)
    calls = models.BigIntegerField()
    errors = models.BigIntegerField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["organisation", "-at", "-id"], name="alarmevent_org_at")]

    def __str__(self) -> str:
        return f"{self.alarm_name} {self.kind} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def condition(self) -> str:
        return describe(self.metric, self.method, self.threshold, self.window_minutes)

    @property
    def shown_value(self) -> str:
        return show_threshold(self.metric, self.value)


class WebhookEndpoint(models.Model):
    """The one HTTPS address an organisation's alarm events are posted to, and the secret that signs them.

    The secret signs every body (HMAC-SHA256), so it is kept as it is: shown to the admin once when
    made, never again by any page or the admin. After a rotation the previous secret also signs,
    until ``previous_secret_expires_at``, so a receiver can switch without losing events.
    """

    organisation = models.OneToOneField("accounts.Organisation", on_delete=models.CASCADE, related_name="webhook")
    url = models.CharField(max_length=URL_MAX_LENGTH)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Will retry"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for the webhook and every attempt to post it: the delivery log.

    ``body`` is the exact JSON every attempt sends; each attempt signs it with a new timestamp.
    """

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=40)
    alarm_event = models.ForeignKey(
        AlarmEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    body = models.TextField()
    url = models.CharField(max_length=URL_MAX_LENGTH, blank=True, help_text="Where the last attempt went.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "-created_at", "-id"], name="delivery_org_created"),
            # The periodic sweep finds deliveries whose next attempt is overdue.
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_next"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.get_status_display()})"
