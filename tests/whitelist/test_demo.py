"""The demo organisation (seed_demo) comes with a few whitelist entries, added once: one owned by a
colleague and expiring within 7 days, and 30 days of calls counted per address."""

import datetime as dt

from django.utils import timezone

from accounts.models import Role
from dashboard.demo import seed_demo_usage
from tests.factories import AdminFactory, UserFactory
from tests.whitelist.helpers import networks
from whitelist import selectors
from whitelist.demo import DEMO_ENTRIES, DEMO_EXPIRING, SOURCE_DAYS, seed_demo_whitelist
from whitelist.models import DailySourceCount
from whitelist.services import parse_network


def test_demo_entries_are_valid_added_once_and_credited_to_the_admin(organisation):
    admin = AdminFactory(organisation=organisation, role=Role.ADMIN)
    colleague = UserFactory(organisation=organisation, full_name="Bob Builder")

    seed_demo_whitelist(organisation)
    seed_demo_whitelist(organisation)

    assert networks(organisation) == sorted([*(network for network, _ in DEMO_ENTRIES), DEMO_EXPIRING[0]])
    assert all(str(parse_network(network)) == network for network, _ in DEMO_ENTRIES)
    assert set(organisation.whitelist_entries.values_list("added_by", flat=True)) == {admin.pk}
    expiring = organisation.whitelist_entries.get(network=DEMO_EXPIRING[0])
    assert expiring.owner == colleague
    assert timezone.localdate() < expiring.expires_on <= timezone.localdate() + dt.timedelta(days=7)
    assert DailySourceCount.objects.filter(organisation=organisation).count() == 5 * SOURCE_DAYS
    assert selectors.calls_from(entry=expiring) > 0


def test_demo_usage_has_refused_calls_from_addresses_not_on_the_whitelist(organisation):
    admin = AdminFactory(organisation=organisation, role=Role.ADMIN)
    seed_demo_whitelist(organisation)
    seed_demo_usage(organisation=organisation)

    entries = list(selectors.entries_for(user=admin))
    refused = selectors.refused_sources(user=admin, entries=entries)

    assert len(refused) >= 2
    assert all(source.allowed_by is None for source in refused)
    assert sum(source.failures.calls for source in refused) >= 5
