from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import User
from audit.actions import label


class AuditFilterForm(forms.Form):
    actor = forms.ChoiceField(label="Who", required=False)
    action = forms.ChoiceField(label="Action", required=False)
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
