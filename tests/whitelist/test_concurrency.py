"""The whitelist rules hold when admins add at the same moment (SPEC §5, checked under a row lock).

Each thread has its own database connection, so these run against PostgreSQL's real row locks;
SQLite serialises all writers and would prove nothing.
"""

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError

from tests.factories import AdminFactory, OrganisationFactory
from tests.race import race
from tests.whitelist.helpers import add, networks
from whitelist.models import WhitelistEntry

pytestmark = pytest.mark.postgres


def _network_code(exc: BaseException) -> str | None:
    assert isinstance(exc, ValidationError), exc
    return exc.error_dict["network"][0].code


def test_concurrent_additions_never_exceed_the_maximum(transactional_db, settings):
    settings.WHITELIST_MAX_ENTRIES = 5
    organisation = OrganisationFactory(name="Race Ltd")
    owner = AdminFactory(organisation=organisation)
    add(organisation, owner, "198.51.100.1")
    add(organisation, owner, "198.51.100.2")

    def adding(n: int) -> Callable[[], WhitelistEntry]:
        return lambda: add(organisation, owner, f"203.0.113.{n}", f"Racer {n}")

    added, errors = race([adding(n) for n in range(8)])

    assert len(added) == 3
    assert len(errors) == 5
    assert all(isinstance(exc, ValidationError) and exc.code == "limit" for exc in errors), errors
    assert all("Race Ltd already has 5 whitelist entries, the most allowed." in exc.messages[0] for exc in errors)
    assert WhitelistEntry.objects.filter(organisation=organisation).count() == 5


def test_the_same_address_added_at_once_is_stored_once(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)

    added, errors = race(
        [lambda spelling=s: add(organisation, owner, spelling) for s in ["198.51.100.7", "198.51.100.7/32"] * 3]
    )

    assert len(added) == 1
    assert [_network_code(exc) for exc in errors] == ["duplicate"] * 5
    assert networks(organisation) == ["198.51.100.7/32"]


def test_a_range_and_an_address_inside_it_added_at_once_never_both_land(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)

    added, errors = race(
        [lambda: add(organisation, owner, "203.0.113.0/24"), lambda: add(organisation, owner, "203.0.113.7")]
    )

    assert len(added) == 1
    assert len(errors) == 1
    assert _network_code(errors[0]) in {"covered", "covers_existing"}
    assert len(networks(organisation)) == 1
