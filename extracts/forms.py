from datetime import UTC, datetime

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from extracts import encryption
from extracts.models import Frequency


class ScheduleForm(forms.Form):
    frequency = forms.ChoiceField(
        label="How often",
        choices=Frequency.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose daily, weekly or monthly.",
            "invalid_choice": "Choose daily, weekly or monthly.",
        },
    )
    first_run_at = forms.DateTimeField(
        label="First extract",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=f"Date and time ({settings.TIME_ZONE}); empty starts the first one within 15 minutes. "
        "Monthly extracts run on the same day each month, or the month's last day when it is shorter.",
        error_messages={"invalid": "Enter a date and time, such as 2030-01-31 06:00."},
    )

    def clean_first_run_at(self) -> datetime | None:
        value: datetime | None = self.cleaned_data.get("first_run_at")
        if value is not None:
            try:
                value.astimezone(UTC)  # "9999-12-31T23:59-05:00" is after the last time there is
            except OverflowError:
                raise forms.ValidationError("Choose a time within the next year.") from None
        return value


class ExtractKeyForm(forms.Form):
    recipient = forms.CharField(
        label="age public key",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One line starting with “age1”, as `age-keygen` prints it (“Public key: age1…”). "
        "Never the secret key: that stays on your computer.",
        error_messages={"required": "Paste your age public key: one line starting with “age1”."},
    )

    def show_service_error(self, exc: ValidationError) -> None:
        """The service's refusal next to the key field (it names no field, or this one)."""
        if getattr(exc, "code", None) == encryption.SECRET_KEY_CODE:
            self.data = {**self.data, "recipient": ""}  # a pasted secret key is not shown back, not even to its owner
        if hasattr(exc, "error_dict"):
            self.add_error(None, exc)
        else:
            self.add_error("recipient", exc)
