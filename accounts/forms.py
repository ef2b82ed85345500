from typing import Any

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.safestring import SafeString
from phonenumber_field.formfields import PrefixChoiceField, SplitPhoneNumberField
from phonenumber_field.widgets import PhoneNumberPrefixWidget

from accounts.models import DEFAULT_PERMISSIONS, PortalPermission, Role, User
from accounts.phones import format_international, parse_phone_number, region_choices, validate_factor_phone_number
from accounts.services import record_password_reset_requested, reset_password, spent_temporary_password_message
from common.forms import OneTimeCodeField


class LoginForm(AuthenticationForm):
    # 254: the longest address there is (RFC 5321), and what the lockout tables can store.
    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
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


PHONE_HELP = "Choose the country, then type the number; or type it with its country code, e.g. +44 7400 123456."


class PhoneNumberWithCountryWidget(PhoneNumberPrefixWidget):
    """A country selector beside the number (django-phonenumber-field's split widget).

    The number keeps the field's own name and the country is ``<name>_country``, so a number
    posted alone, with its country code, is still understood. The field's label names the
    number input; the selector is labelled "<field label>: country".
    """

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        country = forms.Select()
        country.choices = region_choices()
        number = forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"})
        number.input_type = "tel"
        super().__init__({"country": country, "": number}, attrs)

    def decompress(self, value: Any) -> list[str]:
        """A stored number shows in the international format, under its own country."""
        text = format_international(value)
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(text, None))
        except phonenumbers.NumberParseException:
            region = None
        if region not in phonenumbers.SUPPORTED_REGIONS:  # none, or a non-geographic number ("001")
            region = settings.PHONENUMBER_DEFAULT_REGION
        return [region, text]

    def id_for_label(self, id_: str) -> str:
        return f"{id_}_1" if id_ else ""

    def render(self, *args: Any, **kwargs: Any) -> SafeString:
        return format_html('<div class="phone-input">{}</div>', super().render(*args, **kwargs))


class PhoneNumberWithCountryField(SplitPhoneNumberField):
    """A number typed beside its country (default PHONENUMBER_DEFAULT_REGION), cleaned to E.164 text.

    accounts.phones words the errors; a blank number is "" (required fields say so first).
    """

    default_validators: list[Any] = []

    def __init__(self, *, max_length: int | None = None, empty_value: Any = None, **kwargs: Any) -> None:
        # max_length and empty_value come from the model field in the admin; E.164 always fits.
        kwargs.setdefault("help_text", PHONE_HELP)
        super().__init__(widget=PhoneNumberWithCountryWidget(), require_all_fields=False, **kwargs)
        # No country posted: PHONENUMBER_DEFAULT_REGION. No number: "required", as any field says.
        # The country shown first is read when the form renders (the widget's decompress), not at import.
        self.initial = kwargs.get("initial")
        country, number = self.fields
        country.required = False
        # Its own name for screen readers: a page may hold several numbers (telephone and mobile).
        self.widget.widgets[0].attrs["aria-label"] = f"{self.label}: country" if self.label else "Country"
        number.required = self.required
        number.error_messages["incomplete"] = self.error_messages["required"]

    def prefix_field(self) -> forms.ChoiceField:
        return PrefixChoiceField(choices=region_choices())

    def number_field(self) -> forms.CharField:
        return forms.CharField(max_length=32)

    def compress(self, data_list: Any) -> str:
        region, typed = [*(data_list or []), "", ""][:2]
        if not typed:
            return ""
        number = parse_phone_number(typed, region=region or None)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class PhoneNumberForm(forms.Form):
    number = PhoneNumberWithCountryField(label="Mobile number")

    def clean_number(self) -> str:
        return validate_factor_phone_number(self.cleaned_data["number"])


class ContactNumbersForm(forms.Form):
    telephone = PhoneNumberWithCountryField(label="Telephone", required=False)
    mobile = PhoneNumberWithCountryField(label="Mobile", required=False)


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
