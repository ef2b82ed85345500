"""What admins type about alarms and the webhook; alarms.services and alarms.webhooks check it and
word the messages, and the forms put those messages next to their fields."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import User
from alarms.models import NAME_MAX_LENGTH, URL_MAX_LENGTH, WINDOW_CHOICES, Metric


class ServiceErrorsMixin:
    def show_service_error(self, exc: ValidationError) -> None:
        """A service's errors beside their fields (a field the form lacks goes to the top)."""
        form: Any = self
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, " ".join(exc.messages))


class AlarmForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(
        error_messages={"required": "Give the alarm a name, e.g. “Tokenize failing”."},
        widget=forms.TextInput(attrs={"maxlength": NAME_MAX_LENGTH}),
    )
    method = forms.CharField(
        label="Method",
        required=False,
        help_text="One API method, as in “Tokenize”; leave empty to watch all methods together.",
        widget=forms.TextInput(attrs={"list": "known-methods", "autocomplete": "off", "spellcheck": "false"}),
    )
    metric = forms.ChoiceField(label="Watch", choices=Metric.choices, initial=Metric.ERROR_RATE)
    window_minutes = forms.TypedChoiceField(
        label="Over the last", choices=WINDOW_CHOICES, coerce=int, initial=15, empty_value=None
    )
    threshold = forms.CharField(
        label="Fire at or above",
        help_text="Failed calls: a whole number (e.g. 50). Error rate: a percentage of all calls (e.g. 2.5).",
        error_messages={"required": "Enter the threshold as a number, e.g. 5."},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    recipients = forms.TypedMultipleChoiceField(
        label="Email",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Who gets an email when the alarm fires and when it recovers.",
    )
    enabled = forms.BooleanField(label="On", required=False, initial=True)

    def __init__(self, *args: Any, colleagues: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["recipients"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(person.pk, f"{person.full_name or person.email} ({person.email})") for person in colleagues]


class WebhookForm(ServiceErrorsMixin, forms.Form):
    url = forms.CharField(
        label="HTTPS address",
        help_text="Where alarm events are posted as signed JSON, e.g. https://hooks.example.com/portal.",
        error_messages={"required": "Enter the HTTPS address of your webhook receiver."},
        widget=forms.URLInput(
            attrs={"maxlength": URL_MAX_LENGTH, "autocomplete": "off", "spellcheck": "false", "inputmode": "url"}
        ),
    )


class RotateSecretForm(forms.Form):
    stop_previous = forms.BooleanField(
        label="Stop signing with the current secret at once (choose this if it leaked)",
        required=False,
        help_text="Otherwise events are signed with both secrets for 24 hours, while you update your receiver.",
    )
