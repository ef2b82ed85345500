from datetime import datetime, time
from typing import Any

from django import forms
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.forms import PhoneNumberWithCountryField
from accounts.models import User
from accounts.phones import validate_factor_phone_number
from common.forms import OneTimeCodeField, digits_only
from tokens import passkeys
from tokens.models import Token


class CodeForm(forms.Form):
    code = OneTimeCodeField()


class TestCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )

    def __init__(self, *args: Any, hint: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].help_text = hint  # what to enter for this kind of token (KindSpec.test_hint)

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"].strip().replace(" ", "")
        if not code.isalnum():
            raise ValidationError("Enter the code as shown, letters and digits only.")
        return code


class DescriptionForm(forms.Form):
    description = forms.CharField(label="Description", max_length=120, required=False)


class HardwareTokenForm(forms.Form):
    serial = forms.CharField(label="Serial number", max_length=64, help_text="Printed on the back of the token.")
    secret = forms.CharField(
        label="Secret",
        max_length=200,
        help_text="As supplied with the token, in hexadecimal or base32.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    digits = forms.TypedChoiceField(label="Digits", choices=[(6, "6"), (8, "8")], coerce=int, initial=6)
    expires_on = forms.DateField(
        label="Expiry date",
        required=False,
        help_text="The token stops working at the end of this day.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    description = forms.CharField(label="Description", max_length=120, required=False)
    code = forms.CharField(label="Code now shown by the token", max_length=10)

    def clean_serial(self) -> str:
        serial: str = self.cleaned_data["serial"].strip()
        if not serial or any(ch.isspace() or not ch.isprintable() for ch in serial):
            raise ValidationError("Enter the serial number without spaces.")
        return serial

    def clean_code(self) -> str:
        return digits_only(self.cleaned_data["code"])

    def enrol(self, *, owner: User, acting_user: User) -> Token | None:
        """Register the token; on refusal the reasons land on the form's fields and None is returned."""
        from tokens import services

        data = self.cleaned_data
        try:
            return services.enrol_hotp(
                user=owner,
                serial=data["serial"],
                secret=data["secret"],
                digits=data["digits"],
                expires_at=self.expires_at,
                code=data["code"],
                description=data["description"],
                acting_user=acting_user,
            )
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                self.add_error(None, exc)
                return None
            for field, errors in exc.message_dict.items():
                self.add_error({"expires_at": "expires_on"}.get(field, field), errors)
            return None

    @property
    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(datetime.combine(day, time.max))


class SmsNumberForm(forms.Form):
    number = PhoneNumberWithCountryField(label="Mobile number")
    description = forms.CharField(label="Description", max_length=120, required=False)

    def clean_number(self) -> str:
        return validate_factor_phone_number(self.cleaned_data["number"])


class EmailAddressForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    description = forms.CharField(label="Description", max_length=120, required=False)


class ResyncForm(forms.Form):
    first_code = forms.CharField(label="First code", max_length=10)
    second_code = forms.CharField(label="Next code", max_length=10, help_text="Press the button again.")

    def clean_first_code(self) -> str:
        return digits_only(self.cleaned_data["first_code"])

    def clean_second_code(self) -> str:
        return digits_only(self.cleaned_data["second_code"])


class PasskeyForm(forms.Form):
    """The passkey's name, and the browser's answer to the WebAuthn prompt (static/js/passkeys.js fills it)."""

    description = forms.CharField(
        label="Name",
        max_length=120,
        help_text="So you can tell your passkeys apart, such as “Work laptop” or “Blue security key”.",
        error_messages={"required": "Enter a name for the passkey."},
    )
    credential = forms.CharField(widget=forms.HiddenInput, required=False, max_length=20_000)

    def clean_description(self) -> str:
        description: str = self.cleaned_data["description"].strip()
        if not description:
            raise ValidationError("Enter a name for the passkey.")
        return description

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "description" in data and not data.get("credential"):
            raise ValidationError(
                "The browser did not create a passkey (the prompt was cancelled, or scripts are off). Try again."
            )
        return data

    def enrol(self, session: SessionBase, *, owner: User, acting_user: User) -> Token | None:
        """Add the passkey the browser made for ``owner``, against the challenge this session was
        given (taken once); None, with the service's refusal on the form, when it is refused.
        Account set-up (the owner acts) and the Tokens page (the owner or an admin) both use it."""
        # Here, not at the top: tokens.services imports tokens.kinds, which imports these forms.
        from tokens.services import enrol_passkey

        try:
            return enrol_passkey(
                user=owner,
                credential=self.cleaned_data["credential"],
                challenge=passkeys.take_challenge(session, passkeys.ENROL, user=owner),
                description=self.cleaned_data["description"],
                acting_user=acting_user,
            )
        except ValidationError as exc:
            self.add_error(None, " ".join(exc.messages))
            return None
