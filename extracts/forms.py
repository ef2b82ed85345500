from datetime import UTC, datetime

from django import forms
from django.conf import settings

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
