"""Source addresses in usage batches: the platform may name each call's source_ip; the portal counts
calls per organisation, address and UTC day (never per call) for the whitelist page."""

from datetime import UTC, datetime

import pytest
import time_machine

from platform_api import services as platform_keys
from tests.dashboard.conftest import post_json
from tests.dashboard.helpers import NOTHING_STORED, batch, error_event, ok_event, stored_rows
from whitelist.models import DailySourceCount

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
USAGE_URL = "/api/platform/v1/usage"
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)


@pytest.fixture
def report(db):
    _, plain = platform_keys.issue_key(name="Platform reporter", acting_user=None)

    def post(*events, batch_id="b-1"):
        with time_machine.travel(NOW, tick=False):
            return post_json(USAGE_URL, batch(*events, batch_id=batch_id), key=plain)

    return post


def from_address(event, address):
    return {**event, "source_ip": address}


def counts(organisation) -> dict[tuple[str, str], int]:
    rows = DailySourceCount.objects.filter(organisation=organisation).values_list("address", "day", "calls")
    return {(address, day.isoformat()): calls for address, day, calls in rows}


def test_calls_are_counted_per_address_and_utc_day(report, organisation, outsider):
    other_organisation = outsider.organisation
    acme, globex = organisation.public_id, other_organisation.public_id

    response = report(
        from_address(ok_event(acme, "Tokenize", MONDAY), "198.51.100.7"),
        from_address(ok_event(acme, "Detokenize", MONDAY), "198.51.100.7"),
        from_address(ok_event(acme, "Tokenize", TUESDAY), "198.51.100.7"),
        from_address(ok_event(acme, "Tokenize", MONDAY), "2001:db8::1"),
        ok_event(acme, "Tokenize", MONDAY),  # no address named: counted on the dashboard only
        from_address(ok_event(globex, "Tokenize", MONDAY), "198.51.100.7"),
    )

    assert response.status_code == 200, response.json()
    assert counts(organisation) == {
        ("198.51.100.7", "2026-11-23"): 2,
        ("198.51.100.7", "2026-11-24"): 1,
        ("2001:db8::1", "2026-11-23"): 1,
    }
    assert counts(other_organisation) == {("198.51.100.7", "2026-11-23"): 1}


def test_a_failed_call_counts_for_its_errors_source_ip(report, organisation):
    response = report(error_event(organisation.public_id, at=MONDAY, source_ip="203.0.113.9"))

    assert response.status_code == 200, response.json()
    assert counts(organisation) == {("203.0.113.9", "2026-11-23"): 1}


def test_later_batches_add_up_and_a_resent_batch_counts_once(report, organisation):
    event = from_address(ok_event(organisation.public_id, at=MONDAY), "198.51.100.7")

    assert report(event, event, batch_id="b-1").status_code == 200
    assert report(event, event, batch_id="b-1").json()["status"] == "duplicate"
    assert report(event, batch_id="b-2").status_code == 200

    assert counts(organisation) == {("198.51.100.7", "2026-11-23"): 3}


def test_addresses_are_stored_in_their_normal_form(report, organisation):
    response = report(from_address(ok_event(organisation.public_id, at=MONDAY), "2001:DB8:0:0::1"))

    assert response.status_code == 200, response.json()
    assert counts(organisation) == {("2001:db8::1", "2026-11-23"): 1}


@pytest.mark.parametrize("value", ["198.51.100.300", "fe80::1%eth0", "", 42, None, "example.com"])
def test_a_bad_source_ip_refuses_the_whole_batch(report, organisation, value):
    good = from_address(ok_event(organisation.public_id, at=MONDAY), "198.51.100.7")

    response = report(good, from_address(ok_event(organisation.public_id, at=MONDAY), value))

    assert response.status_code == 400
    assert response.json()["errors"] == {"events[1].source_ip": "must be an IPv4 or IPv6 address"}
    assert stored_rows() == NOTHING_STORED
    assert not DailySourceCount.objects.exists()


def test_an_events_own_source_ip_counts_before_its_errors(report, organisation):
    failed = error_event(organisation.public_id, at=MONDAY, source_ip="203.0.113.9")

    response = report(from_address(failed, "203.0.113.10"))

    assert response.status_code == 200, response.json()
    assert counts(organisation) == {("203.0.113.10", "2026-11-23"): 1}


def test_many_addresses_in_one_batch_are_all_counted(report, organisation):
    # More rows than one upsert statement holds on SQLite (common.upsert.MAX_PARAMETERS).
    events = [
        from_address(ok_event(organisation.public_id, at=MONDAY), f"10.0.{i // 250}.{i % 250}") for i in range(700)
    ]

    response = report(*events, *events[:5])

    assert response.status_code == 200, response.json()
    stored = counts(organisation)
    assert len(stored) == 700
    assert sum(stored.values()) == 705
