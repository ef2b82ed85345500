"""The demo organisation (seed_demo) comes with a few whitelist entries, added once."""

from accounts.models import Role
from tests.factories import AdminFactory
from tests.whitelist.helpers import networks
from whitelist.demo import DEMO_ENTRIES, seed_demo_whitelist
from whitelist.services import parse_network


def test_demo_entries_are_valid_added_once_and_credited_to_the_admin(organisation):
    admin = AdminFactory(organisation=organisation, role=Role.ADMIN)

    seed_demo_whitelist(organisation)
    seed_demo_whitelist(organisation)

    assert networks(organisation) == sorted(network for network, _ in DEMO_ENTRIES)
    assert all(str(parse_network(network)) == network for network, _ in DEMO_ENTRIES)
    assert set(organisation.whitelist_entries.values_list("added_by", flat=True)) == {admin.pk}
