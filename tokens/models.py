"""Second-factor tokens (SPEC §3).

The secret and its verification live in django-otp devices (TOTP, HOTP, e-mail, static backup
codes, and our SMS device built from django-otp's side-channel parts). ``Token`` is the one
place that knows the portal's lifecycle around any of them: type, status, description,
expiry, lock, and when it was last changed.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django_otp.models import (
    CooldownMixin,
    Device,
    SideChannelDevice,
    ThrottlingMixin,
    TimestampMixin,
)
from django_otp.plugins.otp_email.models import EmailDevice
from phonenumber_field.modelfields import PhoneNumberField

if TYPE_CHECKING:
    from tokens.kinds import KindSpec


class TokenKind(models.TextChoices):
    TOTP = "totp", "Authenticator app"
    HOTP = "hotp", "Hardware token"
    SMS = "sms", "Text message"
    EMAIL = "email", "Email"
    BACKUP = "backup", "Backup codes"
    PASSKEY = "passkey", "Passkey"


class TokenStatus(models.TextChoices):
    ACTIVE = "active", "ACTIVE"
    DISABLED = "disabled", "DISABLED"
    EXPIRED = "expired", "EXPIRED"


class TokenType(models.Model):
    """The label users see for each kind of token; support renames them in the admin."""

    kind = models.CharField(max_length=10, choices=TokenKind.choices, primary_key=True)
    display_name = models.CharField(max_length=60)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.display_name


class SmsDevice(TimestampMixin, CooldownMixin, ThrottlingMixin, SideChannelDevice):
    """A code texted to a phone: stored, valid for a few minutes, spent on first use.

    django-two-factor-auth's phone device accepts the same time-based code for minutes and
    does not spend it; this one does, like django-otp's e-mail device.
    """

    number = PhoneNumberField()

    class Meta(Device.Meta):
        verbose_name = "SMS device"

    def get_cooldown_duration(self) -> int:
        return int(settings.TOKEN_SEND_COOLDOWN_SECONDS)

    def get_throttle_factor(self) -> int:
        return 1


class EmailCodeDevice(EmailDevice):
    """django-otp's e-mail device, with the portal's cooldown setting (read at call time)."""

    class Meta:
        proxy = True
        verbose_name = "email device"

    def get_cooldown_duration(self) -> int:
        return int(settings.TOKEN_SEND_COOLDOWN_SECONDS)


class PasskeyDevice(TimestampMixin, ThrottlingMixin, Device):
    """A passkey or security key: a WebAuthn public-key credential bound to the portal's RP ID.

    The private key never leaves the authenticator; the portal keeps its credential id, public key
    (COSE), the signature counter it last reported (a counter that goes back means a possible clone,
    tokens/services/passkeys.py) and the transports the browser reported, to offer it at login.
    Typed codes are never its own: ``verify_token`` says no, and the login checks a signed assertion
    instead, under the same lock and back-off (``ThrottlingMixin``).
    """

    # Annotated: the base class comes from django-otp, which the Django type plugin does not read.
    credential_id: "models.CharField[str, str]" = models.CharField(max_length=1400, unique=True)  # base64url
    public_key: "models.BinaryField[bytes | memoryview, bytes | memoryview]" = models.BinaryField()
    sign_count: "models.PositiveBigIntegerField[int, int]" = models.PositiveBigIntegerField(default=0)
    transports: "models.JSONField[list[str], list[str]]" = models.JSONField(default=list, blank=True)

    class Meta(Device.Meta):
        verbose_name = "passkey"

    def verify_token(self, token: object) -> bool:
        return False

    def get_throttle_factor(self) -> int:
        return 1


def locked_after_failures(device: Device) -> bool:
    """The one rule of the lock: TOKEN_LOCK_AFTER_FAILURES wrong codes in a row (django-otp's count)
    lock a token until an admin unlocks it."""
    return int(getattr(device, "throttling_failure_count", 0)) >= settings.TOKEN_LOCK_AFTER_FAILURES


class TokenQuerySet(models.QuerySet["Token"]):
    def unexpired(self) -> "TokenQuerySet":
        """In SQL, the tokens ``Token.expiry_passed`` does not call expired."""
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now()))


class Token(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(max_length=10, choices=TokenKind.choices)
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=120, blank=True)
    serial = models.CharField("serial number", max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    device_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    device_id = models.PositiveBigIntegerField()
    device: Any = GenericForeignKey("device_type", "device_id")

    objects = TokenQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["device_type", "device_id"], name="token_one_per_device"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.user.email}"

    @staticmethod
    def expiry_passed(expires_at: datetime | None) -> bool:
        """The one rule of expiry: a token is EXPIRED from the moment ``expires_at`` on (never without one)."""
        return expires_at is not None and expires_at <= timezone.now()

    @property
    def is_expired(self) -> bool:
        return self.expiry_passed(self.expires_at)

    @property
    def status(self) -> TokenStatus:
        if not self.enabled:
            return TokenStatus.DISABLED
        if self.is_expired:
            return TokenStatus.EXPIRED
        return TokenStatus.ACTIVE

    @property
    def is_active(self) -> bool:
        return self.status == TokenStatus.ACTIVE

    @property
    def is_locked(self) -> bool:
        return locked_after_failures(self.device)

    @property
    def last_used_at(self) -> object:
        return getattr(self.device, "last_used_at", None)

    @property
    def spec(self) -> "KindSpec":
        """What this kind of token is and does (tokens/kinds.py)."""
        from tokens import kinds

        return kinds.get(self.kind)

    @property
    def device_label(self) -> str:
        return self.spec.describe(self)

    @property
    def device_label_before_login(self) -> str:
        """The device as the login page shows it before the second factor (a number masked)."""
        return self.spec.describe_before_login(self)

    @property
    def sends_codes(self) -> bool:
        return self.spec.sends_codes
