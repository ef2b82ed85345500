from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError

from accounts.models import DEFAULT_PERMISSIONS, PortalPermission, Role, User
from accounts.phones import parse_phone_number, validate_factor_phone_number
from accounts.services import record_password_reset_requested, reset_password, spent_temporary_password_message
from common.forms import OneTimeCodeField


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    error_messages = {
        "invalid_login": "The email or password is not correct.",
        "inactive": "The email or password is not correct.",
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError as exc:
            # A temporary password that was already used: say so, and what to do instead.
            username = str(self.cleaned_data.get("username") or "")
            password = str(self.cleaned_data.get("password") or "")
            locked_out = getattr(self.request, "axes_locked_out", False)
            asked = exc.code == "invalid_login" and username and password and not locked_out
            if asked and (message := spent_temporary_password_message(email=username, password=password)):
                raise ValidationError(message, code="temporary_password_used") from exc
            raise


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, with the email sent by a Celery task instead of in the request.

    The link is built on ``PORTAL_BASE_URL``, never on the request's Host header (Django's
    ``domain``/``protocol`` context): a forged Host that the server accepts would otherwise put
    the attacker's address in front of a valid reset token (password-reset poisoning).
    """

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        from django.template import loader

        from common.mail import queue_templated_email

        context = {**context, "portal_base_url": settings.PORTAL_BASE_URL}
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        # The view names the text template; its HTML twin sits beside it.
        template = email_template_name.removesuffix(".txt")
        queue_templated_email(template=template, subject=subject, context=context, to=[to_email])
        record_password_reset_requested(user=context["user"])


class ResetPasswordForm(SetPasswordForm):
    """Django's new-password form behind a reset link; the change is recorded in the audit trail."""

    def save(self, commit: bool = True) -> User:
        return reset_password(user=self.user, password=self.cleaned_data["new_password1"])


class TokenForm(forms.Form):
    token = OneTimeCodeField(min_length=6, max_length=8)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        help_text="From your authenticator app or hardware token, a text or email we sent, or a backup code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "autocapitalize": "off"}),
    )

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"].strip().replace(" ", "").replace("-", "")
        if not code.isalnum():
            raise ValidationError("A code is made of digits (or letters and digits for a backup code).")
        return code


class PhoneNumberForm(forms.Form):
    number = forms.CharField(
        label="Mobile number",
        max_length=32,
        help_text="With the country code, e.g. +44 7400 123456.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_number(self) -> str:
        return validate_factor_phone_number(self.cleaned_data["number"])


def _optional_phone(value: str) -> str:
    if not value.strip():
        return ""
    import phonenumbers

    return phonenumbers.format_number(parse_phone_number(value), phonenumbers.PhoneNumberFormat.E164)


class ContactNumbersForm(forms.Form):
    telephone = forms.CharField(label="Telephone", max_length=32, required=False)
    mobile = forms.CharField(label="Mobile", max_length=32, required=False)

    def clean_telephone(self) -> str:
        return _optional_phone(self.cleaned_data["telephone"])

    def clean_mobile(self) -> str:
        return _optional_phone(self.cleaned_data["mobile"])


permission_field = forms.MultipleChoiceField(
    label="Extra permissions",
    choices=PortalPermission.choices,
    required=False,
    widget=forms.CheckboxSelectMultiple,
    help_text="Admins hold every permission.",
)


class AddUserForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=150)
    email = forms.EmailField(label="Email", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.USER)
    permissions = permission_field

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Ticked for a new user; an admin may untick it (an unticked box posts nothing).
        self.fields["permissions"].initial = [p.value for p in DEFAULT_PERMISSIONS]

    def clean_full_name(self) -> str:
        name: str = self.cleaned_data["full_name"].strip()
        if not name:
            raise ValidationError("Enter the user's name.")
        return name


class ChangeUserForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)
    permissions = permission_field

    @classmethod
    def for_user(cls, user: User) -> "ChangeUserForm":
        return cls(initial={"role": user.role, "permissions": [p.value for p in user.granted_permissions]})


class ReauthenticateForm(forms.Form):
    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True})
    )
