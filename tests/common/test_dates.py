"""common.dates.shown: a time in a message as the pages show it, in the current time zone."""

import datetime as dt

from django.utils import timezone

from common.dates import shown

MOMENT = dt.datetime(2026, 12, 3, 9, 5, 30, tzinfo=dt.UTC)


def test_a_time_reads_as_on_the_pages_without_a_leading_zero_on_the_day():
    assert shown(MOMENT) == "3 Dec 2026, 09:05"


def test_the_time_is_given_in_the_current_time_zone():
    with timezone.override("Europe/Berlin"):
        assert shown(MOMENT) == "3 Dec 2026, 10:05"
