from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from files.uploads import KINDS


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


class UploadForm(forms.Form):
    """One file for a File Manager section; the upload rules run in the service."""

    file = forms.FileField(label="File")

    def __init__(self, *args: Any, refusal: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set when the upload handler stopped an oversized file: it never reached request.FILES,
        # and the user should read why rather than "This field is required."
        self.refusal = refusal
        if refusal:
            self.fields["file"].required = False
        limit_mb = settings.FILES_MAX_UPLOAD_BYTES / 1_048_576
        kinds = ", ".join(KINDS[k][0].upper() for k in sorted(settings.FILES_ALLOWED_TYPES) if k in KINDS)
        self.fields["file"].help_text = f"{kinds}; at most {limit_mb:.0f} MB."

    def clean_file(self) -> UploadedFile | None:
        if self.refusal:
            raise forms.ValidationError(self.refusal)
        upload: UploadedFile | None = self.cleaned_data["file"]
        return upload
