"""Times in messages, e-mails and files written in Python, shown as the pages show them."""

from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format


def shown(moment: datetime) -> str:
    """``moment`` in the current time zone, as ``{{ value|date:"DATETIME_FORMAT" }}`` writes it: 3 Dec 2026, 09:05."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")
