from collections.abc import Callable
from typing import Any

from django import forms

from dashboard.selectors import USAGE_DAYS, USAGE_RANGES, ErrorFilters


class UsageRangeForm(forms.Form):
    """The dashboard's range, read from the query string (?days=7, 30 or 90; 30 when absent)."""

    days = forms.TypedChoiceField(
        choices=[(str(days), f"{days} days") for days in USAGE_RANGES],
        coerce=int,
        required=False,
        empty_value=str(USAGE_DAYS),
    )

    def chosen_days(self) -> int:
        """The range asked for, or the default when the value is not one of the ranges."""
        return int(self.cleaned_data["days"]) if self.is_valid() else USAGE_DAYS


class ErrorFilterForm(forms.Form):
    """The error log's filters, read from the query string (?from=&to=&method=&code=)."""

    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    method = forms.ChoiceField(label="Method", required=False)
    code = forms.CharField(
        label="Error code", required=False, max_length=64, help_text="The exact code, in upper or lower case."
    )

    QUERY_NAMES = {"start": "from", "end": "to"}

    def __init__(self, *args: Any, methods: list[str], known: Callable[[], list[str]], **kwargs: Any) -> None:
        """``methods`` are offered (those that failed); any of ``known()`` (those called) is accepted."""
        super().__init__(*args, **kwargs)
        offered = list(methods)
        asked = self.data.get("method") if self.is_bound else None
        if asked and asked not in offered and asked in known():
            offered.append(asked)  # a method that never failed: an empty answer, shown as chosen
        self.fields["method"].choices = [("", "All methods"), *((m, m) for m in offered)]  # type: ignore[attr-defined]

    def add_prefix(self, field_name: str) -> str:
        # Short, readable names in the address: ?from=2025-03-01&to=2025-03-31
        return self.QUERY_NAMES.get(field_name, field_name)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The “from” date is after the “to” date.")
        return data

    def filters(self) -> ErrorFilters:
        data = self.cleaned_data
        return ErrorFilters(start=data["start"], end=data["end"], method=data["method"], code=data["code"])
