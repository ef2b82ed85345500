from typing import Any

from django import forms

from billing.models import Status
from files.uploads import check_upload

# Drafts never reach the portal, so customers filter by the other statuses.
PORTAL_STATUSES = [(s.value, s.label) for s in Status if s != Status.DRAFT]


class InvoiceFilterForm(forms.Form):
    year = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    status = forms.ChoiceField(choices=[("", "Any status"), *PORTAL_STATUSES], required=False)

    def __init__(self, *args: Any, years: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        year = self.fields["year"]
        assert isinstance(year, forms.ChoiceField)
        year.choices = [("", "All years"), *((year, str(year)) for year in years)]


def check_attached_pdf(upload: Any) -> None:
    """Support attaches PDFs only, judged from the content with the File Manager's rules."""
    check_upload(upload, allowed={"pdf"})
