"""Form fields shared by several apps: the one-time-code field and the multi-file field."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile


def digits_only(value: str) -> str:
    code = value.strip().replace(" ", "")
    # ASCII digits: "²" and other script's digits pass isdigit() but are no code of ours.
    if not (code.isascii() and code.isdecimal()):
        raise ValidationError("The code is made of digits only.")
    return code


class OneTimeCodeField(forms.CharField):
    """A code from an authenticator app, hardware token, text or email: digits, spaces ignored."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Code")
        kwargs.setdefault("max_length", 10)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        code: str = super().clean(value)
        return digits_only(code) if code else code


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field, as Django's documentation shows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []
