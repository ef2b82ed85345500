from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from whitelist.models import DESCRIPTION_MAX_LENGTH
from whitelist.services import CONFIRM_BROAD_LABEL, DESCRIPTION_REQUIRED, NETWORK_REQUIRED


class AddEntryForm(forms.Form):
    """Collects what the user typed; whitelist.services checks it and words the messages.

    The broad-range checkbox appears only once the service asks for it (or was ticked already),
    so the first form stays short.
    """

    network = forms.CharField(
        label="Address or range",
        error_messages={"required": NETWORK_REQUIRED},
        help_text="An IPv4 or IPv6 address (203.0.113.7) or CIDR range (203.0.113.0/24, 2001:db8::/48).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}),
    )
    description = forms.CharField(
        error_messages={"required": DESCRIPTION_REQUIRED},
        help_text="What calls the API from here, e.g. “Payment servers, Frankfurt”.",
        widget=forms.TextInput(attrs={"maxlength": DESCRIPTION_MAX_LENGTH}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and self.data.get("confirm_broad"):
            self._add_confirmation()

    def _add_confirmation(self) -> None:
        self.fields["confirm_broad"] = forms.BooleanField(label=CONFIRM_BROAD_LABEL, required=False)

    def show_service_error(self, exc: ValidationError) -> None:
        """Put a service's errors next to their fields, adding the checkbox when it asks for one."""
        if hasattr(exc, "error_dict") and "confirm_broad" in exc.error_dict and "confirm_broad" not in self.fields:
            self._add_confirmation()
        if hasattr(exc, "error_dict"):
            self.add_error(None, exc)
        else:
            self.add_error(None, " ".join(exc.messages))
