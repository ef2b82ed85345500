import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import User
from audit.actions import label
from audit.selectors import Position

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
POSITION = re.compile(r"(-?\d{1,18})\.(\d{1,18})")
BAD_PAGE_LINK = "This page link is not valid (it may have been cut short): start again from the newest events."


class AuditFilterForm(forms.Form):
    actor = forms.ChoiceField(label="Who", required=False)
    action = forms.ChoiceField(label="Action", required=False)
    target = forms.CharField(
        label="On",
        required=False,
        max_length=254,
        help_text="Any part of what the event was done to, or of the email of the account it touched.",
    )
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, users: list[User], actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        actor_field = self.fields["actor"]
        action_field = self.fields["action"]
        assert isinstance(actor_field, forms.ChoiceField) and isinstance(action_field, forms.ChoiceField)
        actor_field.choices = [("", "Anyone"), *((str(u.pk), u.email) for u in users)]
        labelled = sorted(((action, label(action)) for action in actions), key=lambda choice: choice[1])
        action_field.choices = [("", "Any action"), *labelled]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("The 'From' date must not be after the 'To' date.")
        return data


def position_text(position: Position) -> str:
    """An event's place in the trail as a page link carries it: its time in microseconds since 1970, its id."""
    at, pk = position
    return f"{(at - EPOCH) // MICROSECOND}.{pk}"


class PageForm(forms.Form):
    """Which page of the trail (keyset paging): the events just older than ``before`` or just newer than ``after``."""

    before = forms.CharField(required=False, max_length=40)
    after = forms.CharField(required=False, max_length=40)

    def _position(self, name: str) -> Position | None:
        text = self.cleaned_data.get(name) or ""
        if not text:
            return None
        match = POSITION.fullmatch(text)
        if match is None:
            raise ValidationError(BAD_PAGE_LINK)
        try:
            at = EPOCH + int(match[1]) * MICROSECOND
        except OverflowError:
            raise ValidationError(BAD_PAGE_LINK) from None
        pk = int(match[2])
        if not 0 < pk < 2**63:
            raise ValidationError(BAD_PAGE_LINK)
        return (at, pk)

    def clean_before(self) -> Position | None:
        return self._position("before")

    def clean_after(self) -> Position | None:
        return self._position("after")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("before") and data.get("after"):
            raise ValidationError(BAD_PAGE_LINK)
        return data
