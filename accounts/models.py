import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from phonenumber_field.modelfields import PhoneNumberField


def generate_public_id() -> str:
    return "org_" + secrets.token_hex(8)


def default_user_limit() -> int:
    return int(settings.DEFAULT_ORGANISATION_USER_LIMIT)


class Organisation(models.Model):
    """A customer company. Its registered details change only through support."""

    public_id = models.CharField(
        max_length=32,
        unique=True,
        default=generate_public_id,
        editable=False,
        help_text="The identifier the platform uses for this organisation.",
    )
    name = models.CharField("registered name", max_length=200)
    registration_number = models.CharField(max_length=64, blank=True)
    vat_number = models.CharField("VAT number", max_length=64, blank=True)
    address = models.TextField("registered address", blank=True)
    country = models.CharField(max_length=64, blank=True)
    user_limit = models.PositiveSmallIntegerField(
        default=default_user_limit,
        validators=[MinValueValidator(1)],
        help_text="Maximum number of users, admins included.",
    )
    is_verified = models.BooleanField("verified", default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(user_limit__gte=1), name="organisation_user_limit_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    USER = "user", "User"


class PortalPermission(models.TextChoices):
    """Finer permissions an admin can grant to a user; admins hold all of them.

    Each is also a Django permission (``accounts.<code>``) declared on ``User``, so adding one
    here and in ``User.Meta.permissions`` (plus a migration) is all it takes.
    """

    MANAGE_WHITELIST = "manage_whitelist", "Manage the API IP whitelist"
    VIEW_BILLING = "view_billing", "View invoices"
    MANAGE_FILES = "manage_files", "Manage files"
    MANAGE_API_KEYS = "manage_api_keys", "Manage API keys"


# What a new user holds unless the admin who adds them unticks it: every user sees the company's
# invoices (SPEC: all users see company information including invoices). Only new users get it;
# users added before this default keep exactly what their admin granted (no data migration).
DEFAULT_PERMISSIONS: tuple[PortalPermission, ...] = (PortalPermission.VIEW_BILLING,)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=username)

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        user = self.model(email=normalise_email(email), **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]
    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150)
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="Empty for support staff.",
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.USER)
    telephone = PhoneNumberField(blank=True)
    mobile = PhoneNumberField(blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField("support staff", default=False, help_text="Can log in to the support admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    # Onboarding: a temporary password (hashed, single use) lets a new user in once.
    temporary_password = models.CharField(max_length=256, blank=True, editable=False)
    temporary_password_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    must_change_password = models.BooleanField(default=False)
    onboarded_at = models.DateTimeField(null=True, blank=True, help_text="When the user finished account setup.")
    fallback_phone_reminder = models.BooleanField(
        default=False, help_text="The user chose 'remind me later' for the fallback number."
    )
    # Bumped to end every session of the user (factor reset, deactivation).
    session_epoch = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_case_insensitive_unique",
                violation_error_message="This email address already belongs to a portal account.",
            ),
        ]
        permissions = [(p.value, p.label) for p in PortalPermission]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalise_email(self.email)

    def set_password(self, raw_password: str | None) -> None:
        # Choosing a real password ends any pending temporary password.
        super().set_password(raw_password)
        self.temporary_password = ""
        self.temporary_password_expires_at = None
        self.must_change_password = False

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        key_salt = "accounts.User.session_auth_hash"
        return salted_hmac(
            key_salt, f"{self.password}:{self.session_epoch}", secret=secret, algorithm="sha256"
        ).hexdigest()

    def get_session_auth_hash(self) -> str:
        return self._get_session_auth_hash()

    def is_verified(self) -> bool:
        """Whether this session proved a second factor; django-otp's middleware replaces this."""
        return False

    @property
    def is_org_admin(self) -> bool:
        return self.organisation_id is not None and self.role == Role.ADMIN

    def has_portal_permission(self, permission: PortalPermission) -> bool:
        if not self.is_active or self.organisation_id is None:
            return False
        return self.role == Role.ADMIN or self.has_perm(f"accounts.{permission.value}")

    @property
    def granted_permissions(self) -> list[PortalPermission]:
        return [p for p in PortalPermission if self.has_perm(f"accounts.{p.value}")]

    def temporary_password_expired(self, now: datetime | None = None) -> bool:
        expires = self.temporary_password_expires_at
        return expires is not None and expires <= (now or timezone.now())

    @property
    def is_onboarded(self) -> bool:
        return self.onboarded_at is not None


class ChangeRequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"


class CompanyDetailsChangeRequest(models.Model):
    """A customer's request to change the registered details; support applies it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="change_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField("registered name", max_length=200, blank=True)
    registration_number = models.CharField(max_length=64, blank=True)
    vat_number = models.CharField("VAT number", max_length=64, blank=True)
    address = models.TextField("registered address", blank=True)
    country = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True, help_text="Why the change is needed, for support.")
    status = models.CharField(max_length=10, choices=ChangeRequestStatus.choices, default=ChangeRequestStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    CHANGEABLE_FIELDS = ("name", "registration_number", "vat_number", "address", "country")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Change of company details for {self.organisation} ({self.get_status_display()})"

    def requested_changes(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in self.CHANGEABLE_FIELDS if getattr(self, f)}
