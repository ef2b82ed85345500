from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest

from files.upload_handlers import upload_refusal
from files.uploads import KINDS


def accepted_kinds() -> str:
    return ", ".join(KINDS[k][0].upper() for k in sorted(settings.FILES_ALLOWED_TYPES) if k in KINDS)


class UploadRefusalMixin(forms.BaseForm):
    """A form whose files may have been refused while they streamed in (files/upload_handlers.py).

    Pass ``refusal=upload_refusal(request)``: the form is then invalid, with the reason on its file
    field rather than "This field is required." (the refused file never reached request.FILES), and
    whatever files did arrive are dropped with it.
    """

    file_field: str

    def __init__(self, *args: Any, refusal: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusal = refusal
        if refusal:
            self.fields[self.file_field].required = False

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and self.refusal:
            self.add_error(self.file_field, self.refusal)


def with_upload_refusal(form_class: type[forms.BaseForm], request: HttpRequest, field: str) -> type[forms.BaseForm]:
    """An admin page's form class for this request, invalid if a file sent to it was refused while it
    streamed in, with the reason on ``field``.

    Without it the refused file is simply missing from the post, and a form whose file is optional
    saves without it and reports success.
    """
    refusal = upload_refusal(request)
    if refusal is None:
        return form_class

    class Refused(form_class):  # type: ignore[valid-type,misc]  # a class made for this request
        def full_clean(self) -> None:
            super().full_clean()
            if self.is_bound:
                self.add_error(field if field in self.fields else None, refusal)

    return Refused


class UploadForm(UploadRefusalMixin, forms.Form):
    """One file for a File Manager section; the upload rules run in the service."""

    file_field = "file"
    file = forms.FileField(label="File")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_mb = settings.FILES_MAX_UPLOAD_BYTES / 1_048_576
        self.fields["file"].help_text = f"{accepted_kinds()}; at most {limit_mb:.0f} MB."
