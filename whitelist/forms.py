from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict

from accounts.models import User
from whitelist.models import DESCRIPTION_MAX_LENGTH
from whitelist.services import (
    CONFIRM_BROAD_LABEL,
    DESCRIPTION_REQUIRED,
    NETWORK_REQUIRED,
    CoversEntries,
    replace_label,
)

# A bigint id has at most 19 digits: longer text is no id (and int() of 100,000 digits is refused).
ID_MAX_DIGITS = 19


OWNER_INVALID = "Choose the owner among the active users of your organisation."
OWNER_LEFT = "This entry's owner has left: choose who answers for it now."
EXPIRY_HELP = (
    "On this date the entry is removed; every admin is emailed 7 days before and when it is. "
    "Empty: until someone removes it."
)


class OwnerChoiceField(forms.ModelChoiceField):
    """Always shows a choice (the adder, or the entry's owner, preselected), so it is not marked
    optional; a request that sends none keeps that default (None here, filled in by the view)."""

    must_choose = False  # set when the entry's owner has left: nothing to keep, someone must take it over

    def label_from_instance(self, obj: User) -> str:
        return f"{obj.full_name} ({obj.email})" if obj.full_name else obj.email

    def clean(self, value: Any) -> User | None:
        if value in self.empty_values:
            if self.must_choose:
                raise ValidationError(OWNER_LEFT, code="required")
            return None
        return super().clean(value)


class EntryDetailsFields(forms.Form):
    """Description (the entry's reason), owner and expiry date: what adding asks and editing changes."""

    description = forms.CharField(
        error_messages={"required": DESCRIPTION_REQUIRED},
        help_text="What calls the API from here, and so why it may, e.g. “Payment servers, Frankfurt”.",
        widget=forms.TextInput(attrs={"maxlength": DESCRIPTION_MAX_LENGTH}),
    )
    owner = OwnerChoiceField(
        queryset=User.objects.none(),
        empty_label=None,
        help_text="Who answers for this entry.",
        error_messages={"invalid_choice": OWNER_INVALID},
    )
    expires_on = forms.DateField(
        label="Expiry date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=EXPIRY_HELP,
        error_messages={"invalid": "Enter a date, such as 2030-01-31."},
    )

    def __init__(self, *args: Any, owners: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, OwnerChoiceField)
        owner.queryset = owners


class EditEntryForm(EntryDetailsFields):
    """The list offers the organisation's active users; no owner sent keeps the entry's owner.

    When that owner has left (deactivated or deleted), the list starts on an empty choice that must
    be changed: preselecting whoever sorts first would hand the entry to them on any save.
    """

    def __init__(self, *args: Any, current_owner: User | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner_left = current_owner is None or not current_owner.is_active
        if self.owner_left:
            owner = self.fields["owner"]
            assert isinstance(owner, OwnerChoiceField)
            owner.must_choose = True
            owner.empty_label = "Choose the new owner"
            owner.help_text = OWNER_LEFT
            self.initial["owner"] = None


class AddEntryForm(EntryDetailsFields):
    """Collects what the user typed; whitelist.services checks it and words the messages.

    The broad-range and replacement checkboxes appear only once the service asks for them (or
    were ticked already), so the first form stays short.
    """

    network = forms.CharField(
        label="Address or range",
        error_messages={"required": NETWORK_REQUIRED},
        help_text="An IPv4 or IPv6 address (203.0.113.7) or CIDR range (203.0.113.0/24, 2001:db8::/48).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}),
    )
    field_order = ["network", "description", "owner", "expires_on"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and self.data.get("confirm_broad"):
            self._add_confirmation()
        if self.is_bound and self._covered_ids(self.data.get("covered")):
            self._add_replacement()

    def _add_confirmation(self) -> None:
        self.fields["confirm_broad"] = forms.BooleanField(label=CONFIRM_BROAD_LABEL, required=False)

    @staticmethod
    def _covered_ids(text: object) -> list[int]:
        """The ids in "3,7,9"; anything else is dropped (the service then offers the replacement again)."""
        parts = str(text or "").split(",")
        return [int(part) for part in parts if part.isascii() and part.isdigit() and len(part) <= ID_MAX_DIGITS]

    def _add_replacement(self) -> None:
        """The entries the service named, carried as ids: ticking replaces exactly those."""
        count = len(self._covered_ids(self.data.get("covered")))
        self.fields["replace_covered"] = forms.BooleanField(label=replace_label(count), required=False)
        self.fields["covered"] = forms.CharField(widget=forms.HiddenInput, required=False)

    @property
    def replace(self) -> list[int]:
        """The ids of the entries the user agreed to replace (none unless the box is ticked)."""
        if not self.cleaned_data.get("replace_covered"):
            return []
        return self._covered_ids(self.cleaned_data.get("covered"))

    def show_service_error(self, exc: ValidationError) -> None:
        """Put a service's errors next to their fields, adding the checkbox when it asks for one."""
        if hasattr(exc, "error_dict") and "confirm_broad" in exc.error_dict and "confirm_broad" not in self.fields:
            self._add_confirmation()
        covers = [e for e in getattr(exc, "error_dict", {}).get("network", []) if isinstance(e, CoversEntries)]
        if covers:
            # Offer the entries covered now, unticked: if they changed since, the user agrees again.
            data = QueryDict(mutable=True)
            data.update(self.data)
            data["covered"] = ",".join(str(pk) for pk in covers[0].covered_ids)
            data.pop("replace_covered", None)
            self.data = data
            self._add_replacement()
        if hasattr(exc, "error_dict"):
            self.add_error(None, exc)
        else:
            self.add_error(None, " ".join(exc.messages))
