"""The fast reading of a valid usage batch, and the fast writes (COPY, one upsert per counter table).

A valid batch is read column by column (``dashboard.ingest._valid_usage_batch``); whatever that
path is unsure of goes through the field-by-field checks, which name every problem. The two
must agree: on any body the fast path accepts, the checked path gives the very same batch. On
PostgreSQL the failed calls go in by COPY and each counter table takes one ``unnest`` upsert; the
rows stored must be those SQLite's INSERTs store.
"""

import itertools
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import upsert
from dashboard import ingest, services
from dashboard.ingest import FailedCall, PayloadError
from dashboard.models import DailyMethodCount, ErrorLog, FiveMinuteMethodCount
from tests.dashboard.conftest import VAULT_URL, post_json
from tests.dashboard.helpers import batch, error_event, iso, ok_event
from tests.dashboard.test_ingest_properties import mutated_batches
from tests.factories import OrganisationFactory
from whitelist.models import DailySourceCount

ORG = "org_00000000000000aa"  # as tests.dashboard.test_ingest_properties
OTHER_ORG = "org_00000000000000bb"
NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
MORNING = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
BATCH_NUMBERS = itertools.count()
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
ODD_MESSAGES = [
    "tab\there",
    "new\nline and\r\nWindows line",
    "back\\slash, \\N, \\., \\t as text",
    "",
    "é, 😀, 中文, \u200b",
    "trailing backslash \\",
    "\\",
    "quotes ' \" and commas, ;",
]


@pytest.fixture
def orgs(db):
    return OrganisationFactory(public_id=ORG), OrganisationFactory(public_id=OTHER_ORG)


def _outcome(data):
    """What the field-by-field checks make of ``data``: the batch, or the problems."""
    try:
        return ingest._checked_usage_batch(data, now=NOW)
    except PayloadError as exc:
        return exc.problems


def _both(body):
    data = json.loads(json.dumps(body))
    return ingest._valid_usage_batch(data, now=NOW), _outcome(data)


# --- The two readings agree ----------------------------------------------------------------------

times = st.builds(
    lambda at, zone, fraction: (
        at.astimezone(zone).isoformat(timespec="microseconds" if fraction else "seconds").replace("+00:00", "Z")
    ),
    st.datetimes(min_value=datetime(2025, 2, 26), max_value=datetime(2025, 3, 5, 11, 0), timezones=st.just(UTC)),
    st.sampled_from(
        [
            UTC,
            timezone(timedelta(hours=5, minutes=45)),
            timezone(timedelta(hours=-3, minutes=-30)),
            timezone(timedelta(hours=14)),
        ]
    ),
    st.booleans(),
)
addresses = st.sampled_from(["203.0.113.9", "10.0.0.1", "2001:DB8::1", "2001:db8:0:0::1", "::ffff:192.0.2.1", "::1"])
# Any text but control characters and lone surrogates; tabs and line breaks, which messages may hold.
free_text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t\n\r"), max_size=40)


@st.composite
def valid_events(draw):
    event = {
        "org": draw(st.sampled_from([ORG, OTHER_ORG])),
        "method": draw(st.sampled_from(["Tokenize", "Detokenize", "v2.Search_all-x"])),
        "at": draw(times),
        "status": "ok",
    }
    if draw(st.booleans()):
        event["status"] = "error"
        event["error"] = {
            "code": draw(st.sampled_from(["TOKEN_NOT_FOUND", "ü\\x", "a b"])),
            "message": draw(free_text),
            "request_id": draw(st.sampled_from(["req_1", "req\\2", "é"])),
            "source_ip": draw(addresses),
        }
    if draw(st.booleans()):
        event["key"] = draw(st.sampled_from(["ak_test_0123", "ak_live_99"]))
    if draw(st.booleans()):
        event["source_ip"] = draw(addresses)
    return event


@PROPERTY_SETTINGS
@given(events=st.lists(valid_events(), min_size=1, max_size=40))
def test_a_valid_batch_is_read_the_same_by_both_paths(orgs, events):
    body = {"batch_id": f"b-{next(BATCH_NUMBERS)}", "events": events}
    fast, checked = _both(body)
    assert fast is not None, checked  # the common case takes the fast path
    assert fast == checked


@PROPERTY_SETTINGS
@given(body=mutated_batches())
def test_the_fast_path_accepts_nothing_the_checks_refuse(orgs, body):
    fast, checked = _both(body)
    if fast is not None:
        assert fast == checked


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b["events"][0].update(at="2025-03-05T12:00:01Z"),  # more than a day ahead
        lambda b: b["events"][0].update(at="2025-03-01T12:00:00"),  # no timezone
        lambda b: b["events"][0].update(at="2025-03-01T12:00:00.000000000000000000000000000000000000000000000000Z"),
        lambda b: b["events"][1]["error"].update(source_ip="fe80::1%eth0"),
        lambda b: b["events"][1]["error"].update(message="x" * 1001),
        lambda b: b["events"][1]["error"].update(code="a\tb"),
        lambda b: b["events"][1]["error"].update(extra=1),
        lambda b: b["events"][0].update(error={"code": "X"}),
        lambda b: b["events"][0].update(key=None),
        lambda b: b["events"][0].update(source_ip=""),
        lambda b: b["events"][0].update(org="org_unknown"),
        lambda b: b["events"][0].update(status=["ok"]),
        lambda b: b.update(batch_id="x" * 129),
        lambda b: b.update(extra=True),
    ],
)
def test_every_fault_goes_to_the_checks_that_name_it(orgs, change):
    body = batch(ok_event(ORG, at=MORNING), error_event(ORG, at=MORNING), batch_id="faulty")
    change(body)
    fast, checked = _both(body)
    assert fast is None
    assert isinstance(checked, dict) and checked  # the problems, by path


def test_a_batch_like_the_platforms_takes_the_fast_path_and_counts_alike(orgs):
    events = []
    for n in range(2000):
        event = ok_event(
            [ORG, OTHER_ORG][n % 2], ["Tokenize", "Detokenize", "Search"][n % 3], NOW - timedelta(seconds=n)
        )
        if n % 7 == 0:
            event = error_event(ORG, "Tokenize", NOW - timedelta(seconds=n), source_ip=f"2001:DB8::{n % 5 + 1}")
        if n % 11 == 0:
            event["key"] = "ak_test_0123"
        if n % 13 == 0:
            event["source_ip"] = "198.51.100.7"
        events.append(event)
    fast, checked = _both({"batch_id": "platform-like", "events": events})

    assert fast is not None
    assert fast == checked
    assert sum(calls for calls, _ in fast.counters.values()) == 2000
    assert {call.source_ip for call in fast.failed_calls} == {f"2001:db8::{n}" for n in range(1, 6)}


# --- orjson reads what the standard library read -------------------------------------------------


def test_a_count_beyond_a_bigint_is_refused_as_before(orgs, platform_key):
    # orjson reads 10**30 as a float, the standard library as an int: both are refused alike.
    response = post_json(
        VAULT_URL, f'{{"org": "{ORG}", "at": "{iso(MORNING)}", "token_count": {10**30}}}', key=platform_key
    )

    assert response.status_code == 400
    assert response.json() == {"errors": {"token_count": "must be a whole number of at least 0"}}


# --- Stored as sent, whichever way it is written ---------------------------------------------------


def test_failed_calls_with_tabs_newlines_backslashes_and_unicode_are_stored_as_sent(orgs, post_usage):
    events = [
        error_event(
            ORG,
            at=MORNING + timedelta(seconds=n),
            code=f"C\\{n} é",
            message=message,
            request_id=f"req\\N{n} 😀",
            source_ip="2001:DB8::7",
        )
        for n, message in enumerate(ODD_MESSAGES)
    ]

    response = post_usage(batch(*events, batch_id="odd-characters"))

    assert response.status_code == 200, response.content
    stored = ErrorLog.objects.order_by("at").values_list("at", "method", "code", "message", "request_id", "source_ip")
    assert list(stored) == [
        (MORNING + timedelta(seconds=n), "Detokenize", f"C\\{n} é", message, f"req\\N{n} 😀", "2001:db8::7")
        for n, message in enumerate(ODD_MESSAGES)
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_stores_the_rows_bulk_inserts_store(orgs, monkeypatch):
    organisation = orgs[0]
    calls = [
        FailedCall(organisation.pk, MORNING + timedelta(seconds=n), "Tokenize", f"C{n}\\", message, f"r{n}", "::1")
        for n, message in enumerate(ODD_MESSAGES)
    ]
    fields = ("organisation_id", "at", "method", "code", "message", "request_id", "source_ip")

    services._log_failed_calls(calls)
    copied = list(ErrorLog.objects.order_by("id").values_list(*fields))
    ErrorLog.objects.all().delete()
    monkeypatch.setattr(services, "can_copy", lambda connection: False)
    services._log_failed_calls(calls)
    inserted = list(ErrorLog.objects.order_by("id").values_list(*fields))

    assert copied == inserted == [tuple(call) for call in calls]


def _counter_tables():
    return (
        sorted(DailyMethodCount.objects.values_list("organisation_id", "method", "day", "calls", "errors")),
        sorted(FiveMinuteMethodCount.objects.values_list("organisation_id", "method", "start", "calls", "errors")),
        sorted(DailySourceCount.objects.values_list("organisation_id", "day", "address", "calls")),
    )


def _add_twice(organisation_id):
    # 600 counters: more than one statement of VALUES (MAX_PARAMETERS), and each added to twice.
    days = [date(2025, 3, 1) + timedelta(days=n) for n in range(150)]
    rows = sorted(((organisation_id, method, day), (3, 1)) for method in ("A", "B", "C", "D") for day in days)
    slots = sorted(((organisation_id, "A", MORNING + timedelta(minutes=5 * n)), (2, 0)) for n in range(300))
    sources = sorted(((organisation_id, day, f"10.0.0.{n % 9}"), (n,)) for n, day in enumerate(days))
    for _ in range(2):
        upsert.add_counts(DailyMethodCount, keys=("organisation", "method", "day"), sums=("calls", "errors"), rows=rows)
        upsert.add_counts(
            FiveMinuteMethodCount, keys=("organisation", "method", "start"), sums=("calls", "errors"), rows=slots
        )
        upsert.add_counts(DailySourceCount, keys=("organisation", "day", "address"), sums=("calls",), rows=sources)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement upsert is PostgreSQL's")
def test_one_unnest_upsert_adds_what_statements_of_values_add(orgs, monkeypatch):
    organisation = orgs[0]
    _add_twice(organisation.pk)
    in_one = _counter_tables()
    for model in (DailyMethodCount, FiveMinuteMethodCount, DailySourceCount):
        model.objects.all().delete()
    monkeypatch.setattr(upsert, "in_one_statement", lambda connection: False)
    _add_twice(organisation.pk)

    assert _counter_tables() == in_one
    assert len(in_one[0]) == 600 and {row[3:] for row in in_one[0]} == {(6, 2)}
    assert {row[3:] for row in in_one[1]} == {(4, 0)}
