from datetime import UTC
from typing import TYPE_CHECKING, Any

from django import forms

from accounts.models import CompanyDetailsChangeRequest, User
from common.forms import MultipleFileField
from files.forms import UploadRefusalMixin, accepted_kinds
from files.upload_handlers import limits_help_text
from support.models import Category, Status

if TYPE_CHECKING:
    from dashboard.models import ErrorLog


class ColleagueChoiceField(forms.ModelMultipleChoiceField):
    """Ids no database row can have are invalid choices: SQLite cannot even run the ``IN`` query
    for an integer past 64 bits (Django guards ``=`` lookups against that, not ``IN``)."""

    def clean(self, value: Any) -> Any:
        for pk in value if isinstance(value, list | tuple) else ():
            try:
                out_of_range = not -(2**63) <= int(pk) < 2**63
            except (TypeError, ValueError):
                continue  # Django's own checks say what is wrong with it
            if out_of_range:
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": pk}
                )
        return super().clean(value)


def attachments_help_text() -> str:
    return f"{accepted_kinds()}. {limits_help_text()}"


class TicketForm(UploadRefusalMixin, forms.Form):
    file_field = "attachments"
    subject = forms.CharField(label="Subject", max_length=200)
    category = forms.ChoiceField(label="Category", choices=[c for c in Category.choices if c[0] != "company_details"])
    body = forms.CharField(label="What do you need?", max_length=10_000, widget=forms.Textarea(attrs={"rows": 6}))
    participants = ColleagueChoiceField(
        label="Include colleagues",
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="They will see the ticket and get its emails.",
    )
    attachments = MultipleFileField(label="Attachments", required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        colleagues = User.objects.filter(organisation=user.organisation, is_active=True).exclude(pk=user.pk)
        field = self.fields["participants"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = colleagues
        self.fields["attachments"].help_text = attachments_help_text()

    def clean_subject(self) -> str:
        subject: str = self.cleaned_data["subject"].strip()
        if not subject:
            raise forms.ValidationError("Enter a subject.")
        return subject


class CommentForm(UploadRefusalMixin, forms.Form):
    file_field = "attachments"
    body = forms.CharField(
        label="Your reply", max_length=10_000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    attachments = MultipleFileField(label="Attachments", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["attachments"].help_text = attachments_help_text()


class StatusFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=[("", "Any status"), *Status.choices], required=False)


class ChangeRequestForm(UploadRefusalMixin, forms.ModelForm):
    file_field = "documents"
    # Bounded here (the columns are text): the request becomes a ticket, whose body holds 10,000 characters.
    address = forms.CharField(
        label="New registered address", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    message = forms.CharField(
        label="Message",
        max_length=5_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=CompanyDetailsChangeRequest._meta.get_field("message").help_text,
    )
    documents = MultipleFileField(
        label="Supporting documents",
        required=False,
    )

    class Meta:
        model = CompanyDetailsChangeRequest
        fields = ["name", "registration_number", "vat_number", "address", "country", "message"]
        labels = {"name": "New registered name"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[
            "documents"
        ].help_text = f"For example a certificate of incorporation. {accepted_kinds()}. {limits_help_text()}"


def error_ticket_initial(error: "ErrorLog") -> dict[str, str]:
    """A ticket about a failed API call, prefilled from its error-log row (the user may edit it)."""
    at = f"{error.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    body = "\n".join(
        [
            "About this failed API call:",
            f"- Request id: {error.request_id}",
            f"- Method: {error.method}",
            f"- Error code: {error.code}",
            f"- Time: {at}",
            f"- Message: {error.message or '(none)'}",
            "",
            "What were you doing, and what did you expect to happen?",
        ]
    )
    subject = f"{error.code} on {error.method} at {at}"
    return {"subject": subject[:200], "category": Category.PROBLEM, "body": body[:10_000]}
