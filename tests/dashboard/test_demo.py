"""The demo organisation gets believable usage, once."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Organisation
from dashboard.demo import DAYS, METHODS, seed_demo_usage
from dashboard.models import DailyMethodCount, ErrorLog, VaultStat


def test_demo_usage_fills_95_days_of_six_methods_with_consistent_errors(organisation):
    assert seed_demo_usage(organisation=organisation) is True

    assert DailyMethodCount.objects.filter(organisation=organisation).count() == DAYS * len(METHODS) == 95 * 6
    assert ErrorLog.objects.filter(organisation=organisation).count() == 200
    for counter in DailyMethodCount.objects.all():
        logged = ErrorLog.objects.filter(method=counter.method, at__date=counter.day).count()
        assert counter.errors == logged
        assert counter.calls >= counter.errors
    weekday = DailyMethodCount.objects.filter(method="Tokenize", day__week_day__in=[2, 3, 4, 5, 6])
    weekend = DailyMethodCount.objects.filter(method="Tokenize", day__week_day__in=[1, 7])
    assert min(c.calls for c in weekday[:20] if c.calls > 20_000) > max(c.calls for c in weekend)


def test_demo_vault_grows_with_several_readings_a_day_over_the_90_days(organisation):
    seed_demo_usage(organisation=organisation)

    readings = list(VaultStat.objects.filter(organisation=organisation).order_by("at"))
    days = {reading.at.date() for reading in readings}
    assert len(days) >= DAYS - 1  # today's first reading is at 05:55 UTC
    assert len(readings) > 3 * DAYS  # several a day: the chart takes each day's last
    assert readings[-1].at <= timezone.now()
    assert readings[-1].token_count > readings[0].token_count


def test_demo_usage_is_added_once(organisation):
    seed_demo_usage(organisation=organisation)
    before = (DailyMethodCount.objects.count(), ErrorLog.objects.count(), VaultStat.objects.count())

    assert seed_demo_usage(organisation=organisation) is False
    assert (DailyMethodCount.objects.count(), ErrorLog.objects.count(), VaultStat.objects.count()) == before


@pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault
def test_seed_demo_command_shows_usage_on_the_demo_dashboard(client):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    demo = Organisation.objects.get(name="Acme Payments Ltd")
    assert DailyMethodCount.objects.filter(organisation=demo).count() == 95 * 6
    assert ErrorLog.objects.filter(organisation=demo).count() == 200
