import re
from datetime import UTC
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apikeys.models import ALL_METHODS, NAME_MAX_LENGTH, ApiKey, Overlap, PlatformMethod
from apikeys.services import METHODS_REQUIRED, NAME_REQUIRED

ALL_METHODS_LABEL = "All functions, including ones the platform adds later"
# Addresses may be typed one per line, or separated by commas or spaces.
SEPARATORS = re.compile(r"[\s,;]+")


class CreateKeyForm(forms.Form):
    """Collects what the user typed; apikeys.services checks it and words the messages."""

    name = forms.CharField(
        error_messages={"required": NAME_REQUIRED},
        help_text="Which servers use the key, e.g. “Web shop, tokenize only”.",
        widget=forms.TextInput(attrs={"maxlength": NAME_MAX_LENGTH, "autocomplete": "off"}),
    )
    methods = forms.MultipleChoiceField(
        label="Functions it may call",
        choices=[(ALL_METHODS, ALL_METHODS_LABEL), *PlatformMethod.choices],
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": METHODS_REQUIRED,
            "invalid_choice": "Choose among the functions listed.",
        },
        help_text="Give each server only what it needs: tokenize on the web tier, detokenize only inside.",
    )
    addresses = forms.CharField(
        label="Source addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "off"}),
        help_text="Addresses or ranges inside your whitelist, one per line. Empty: every whitelisted address.",
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at 00:00 UTC on this day. Empty: until revoked.",
        error_messages={"invalid": "Enter a date, such as 2030-01-31."},
    )

    def clean_addresses(self) -> list[str]:
        return [text for text in SEPARATORS.split(self.cleaned_data.get("addresses") or "") if text]


class EditKeyForm(CreateKeyForm):
    """The same fields, filled with what the key has now."""

    def __init__(self, *args: Any, key: ApiKey, **kwargs: Any) -> None:
        initial = {
            "name": key.name,
            "methods": key.methods,
            "addresses": "\n".join(key.addresses),
            "expires_on": key.expires_at.astimezone(UTC).date() if key.expires_at else None,
        }
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)


class RollKeyForm(forms.Form):
    overlap = forms.ChoiceField(
        label="The current secret keeps working for",
        choices=Overlap.choices,
        initial=Overlap.DAY,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose how long the current secret keeps working.",
            "invalid_choice": "Choose how long the current secret keeps working.",
        },
        help_text="Long enough to put the new secret on every server that uses this key.",
    )


def show_service_error(form: forms.Form, exc: ValidationError) -> None:
    """A service's errors next to the fields they name, or above the form."""
    if hasattr(exc, "error_dict"):
        form.add_error(None, exc)
    else:
        form.add_error(None, " ".join(exc.messages))
