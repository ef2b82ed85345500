"""``{% documents_state organisation as state %}``: whether the organisation's compliance documents
are expiring or expired, for the Verified stamp (templates/components/_verified_stamp.html).

A tag rather than a context processor, so only the pages that show the state pay its one query.
"""

from django import template

from accounts.models import Organisation
from files import selectors

register = template.Library()


@register.simple_tag
def documents_state(organisation: Organisation | None) -> str:
    if organisation is None:
        return ""
    return selectors.documents_state(organisation_id=organisation.pk)
