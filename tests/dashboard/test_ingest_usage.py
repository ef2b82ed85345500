"""POST /api/platform/v1/usage: the contract the platform relies on (SPEC §4)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dashboard.models import DailyMethodCount, ErrorLog, IngestedBatch
from platform_api import services as key_services
from platform_api.models import PlatformKey
from tests.dashboard.conftest import USAGE_URL, post_json
from tests.dashboard.helpers import (
    NOTHING_STORED,
    batch,
    counters,
    error_event,
    hours_ago,
    ok_event,
    stored_rows,
)
from tests.factories import OrganisationFactory

TIME_MESSAGE = "must be an ISO-8601 time with a timezone, e.g. 2025-03-01T12:00:00Z"
METHOD_MESSAGE = "must be 1 to 64 letters, digits, dots, underscores or hyphens"


# --- Stored as sent ----------------------------------------------------------------------------


def test_batch_is_counted_per_organisation_method_and_day_and_errors_are_kept(
    post_usage, organisation, other_organisation
):
    acme, globex = organisation.public_id, other_organisation.public_id
    monday = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
    tuesday = monday + timedelta(days=1)
    body = batch(
        ok_event(acme, "Tokenize", monday),
        ok_event(acme, "Tokenize", monday + timedelta(hours=2)),
        ok_event(acme, "Tokenize", tuesday),
        error_event(
            acme,
            "Tokenize",
            tuesday,
            code="INVALID_INPUT",
            message="Card number fails the Luhn check.",
            request_id="req_42",
            source_ip="198.51.100.7",
        ),
        ok_event(acme, "Detokenize", monday),
        ok_event(globex, "Tokenize", monday),
        batch_id="2025-03-04T10:00:batch-17",
    )

    response = post_usage(body)

    assert response.status_code == 200
    assert response.json() == {"status": "stored", "batch_id": "2025-03-04T10:00:batch-17", "events": 6, "errors": 1}
    assert counters(organisation.pk) == {
        ("Tokenize", "2025-03-03"): (2, 0),
        ("Tokenize", "2025-03-04"): (2, 1),
        ("Detokenize", "2025-03-03"): (1, 0),
    }
    assert counters(other_organisation.pk) == {("Tokenize", "2025-03-03"): (1, 0)}
    error = ErrorLog.objects.get()
    assert (error.organisation, error.at, error.method, error.code) == (
        organisation,
        tuesday,
        "Tokenize",
        "INVALID_INPUT",
    )
    assert (error.message, error.request_id, error.source_ip) == (
        "Card number fails the Luhn check.",
        "req_42",
        "198.51.100.7",
    )
    recorded = IngestedBatch.objects.get()
    assert (recorded.batch_id, recorded.events, recorded.key) == (
        "2025-03-04T10:00:batch-17",
        6,
        PlatformKey.objects.get(),
    )


def test_day_is_the_utc_date_of_the_event(post_usage, organisation):
    # 23:30 at UTC-2 is 01:30 the next day in UTC; 00:30 at UTC+2 is still the day before in UTC.
    body = batch(
        ok_event(organisation.public_id) | {"at": "2025-03-01T23:30:00-02:00"},
        ok_event(organisation.public_id) | {"at": "2025-03-01T00:30:00+02:00"},
    )

    assert post_usage(body).status_code == 200

    assert counters(organisation.pk) == {("Tokenize", "2025-03-02"): (1, 0), ("Tokenize", "2025-02-28"): (1, 0)}


def test_later_batches_add_to_the_same_counters(post_usage, organisation):
    org = organisation.public_id
    day = datetime(2025, 3, 3, 12, tzinfo=UTC)

    post_usage(batch(ok_event(org, at=day), error_event(org, "Tokenize", day), batch_id="a"))
    post_usage(batch(ok_event(org, at=day), ok_event(org, at=day), batch_id="b"))

    assert counters(organisation.pk) == {("Tokenize", "2025-03-03"): (4, 1)}
    assert IngestedBatch.objects.count() == 2


def test_error_details_are_stored_as_sent_with_the_address_normalised(post_usage, organisation):
    message = "Line one\nline two\ttabbed — ünïcode ✓"
    body = batch(error_event(organisation.public_id, message=message, source_ip="2001:DB8:0::1", code="E.429"))

    assert post_usage(body).status_code == 200

    error = ErrorLog.objects.get()
    assert (error.message, error.source_ip, error.code) == (message, "2001:db8::1", "E.429")


def test_an_empty_error_message_is_accepted(post_usage, organisation):
    assert post_usage(batch(error_event(organisation.public_id, message=""))).status_code == 200
    assert ErrorLog.objects.get().message == ""


def test_batch_of_five_thousand_events_is_stored(post_usage, organisation, other_organisation):
    orgs = [organisation.public_id, other_organisation.public_id]
    methods = ["Tokenize", "Detokenize", "Validate", "Delete", "Search"]
    start = hours_ago(48)
    events = []
    for n in range(5000):
        at = start + timedelta(seconds=30 * n)
        org, method = orgs[n % 2], methods[n % 5]
        if n % 10 == 3:
            events.append(error_event(org, method, at, request_id=f"req_{n}"))
        else:
            events.append(ok_event(org, method, at))

    response = post_usage(batch(*events, batch_id="big"))

    assert response.status_code == 200
    assert response.json() == {"status": "stored", "batch_id": "big", "events": 5000, "errors": 500}
    totals = DailyMethodCount.objects.values_list("calls", "errors")
    assert sum(c for c, _ in totals) == 5000
    assert sum(e for _, e in totals) == 500
    assert ErrorLog.objects.count() == 500
    assert ErrorLog.objects.filter(organisation=other_organisation).count() == 500  # n % 10 == 3: odd n


# --- The same batch counts once ---------------------------------------------------------------


def test_resent_batch_counts_once(post_usage, organisation):
    body = batch(ok_event(organisation.public_id), error_event(organisation.public_id), batch_id="retry-me")
    assert post_usage(body).json()["status"] == "stored"
    before = (counters(organisation.pk), stored_rows())

    again = post_usage(body)

    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "batch_id": "retry-me"}
    assert (counters(organisation.pk), stored_rows()) == before


def test_a_different_batch_under_a_used_batch_id_changes_nothing(post_usage, organisation):
    post_usage(batch(ok_event(organisation.public_id), batch_id="b-1"))

    response = post_usage(batch(ok_event(organisation.public_id, "Validate"), batch_id="b-1"))

    assert response.json()["status"] == "duplicate"
    assert list(DailyMethodCount.objects.values_list("method", "calls")) == [("Tokenize", 1)]


# --- Bad input: 400 naming the field, nothing stored -------------------------------------------


def valid_body(org: str) -> dict:
    return batch(ok_event(org), error_event(org))


def set_event(index, key, value):
    def change(body):
        body["events"][index][key] = value

    return change


def set_error(key, value):
    def change(body):
        body["events"][1]["error"][key] = value

    return change


def drop(*path):
    def change(body):
        target = body
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


def top(key, value):
    def change(body):
        body[key] = value

    return change


BAD_FIELDS = [
    ("batch_id missing", drop("batch_id"), "batch_id", "is required"),
    ("batch_id not a string", top("batch_id", 17), "batch_id", "must be a string"),
    ("batch_id empty", top("batch_id", ""), "batch_id", "must not be empty"),
    ("batch_id too long", top("batch_id", "b" * 129), "batch_id", "must be at most 128 characters"),
    ("batch_id control character", top("batch_id", "b\x00"), "batch_id", "must not contain control characters"),
    ("unknown top-level field", top("sent_at", "now"), "sent_at", "is not a known field"),
    ("events missing", drop("events"), "events", "is required"),
    ("events not a list", top("events", {"0": {}}), "events", "must be a list of events"),
    ("events empty", top("events", []), "events", "must contain at least one event"),
    ("event not an object", top("events", ["Tokenize"]), "events[0]", "must be an object"),
    ("org missing", drop("events", 0, "org"), "events[0].org", "is required"),
    ("org not a string", set_event(0, "org", 12), "events[0].org", "must be an organisation's public id (a string)"),
    ("org unknown", set_event(0, "org", "org_0000000000000000"), "events[0].org", "unknown organisation"),
    ("org malformed", set_event(0, "org", "'; DROP TABLE x; --"), "events[0].org", "unknown organisation"),
    ("method missing", drop("events", 0, "method"), "events[0].method", "is required"),
    ("method empty", set_event(0, "method", ""), "events[0].method", METHOD_MESSAGE),
    ("method with a space", set_event(0, "method", "Tokenize all"), "events[0].method", METHOD_MESSAGE),
    ("method too long", set_event(0, "method", "M" * 65), "events[0].method", METHOD_MESSAGE),
    ("method not a string", set_event(0, "method", ["Tokenize"]), "events[0].method", METHOD_MESSAGE),
    ("at missing", drop("events", 0, "at"), "events[0].at", "is required"),
    ("at without timezone", set_event(0, "at", "2025-03-01T12:00:00"), "events[0].at", TIME_MESSAGE),
    ("at a date only", set_event(0, "at", "2025-03-01"), "events[0].at", TIME_MESSAGE),
    ("at in words", set_event(0, "at", "yesterday"), "events[0].at", TIME_MESSAGE),
    ("at a unix time", set_event(0, "at", 1740830400), "events[0].at", TIME_MESSAGE),
    ("at out of range", set_event(0, "at", "0001-01-01T00:30:00+01:00"), "events[0].at", "is out of range"),
    ("status missing", drop("events", 0, "status"), "events[0].status", "is required"),
    ("status unknown", set_event(0, "status", "failed"), "events[0].status", 'must be "ok" or "error"'),
    ("status not a string", set_event(0, "status", True), "events[0].status", 'must be "ok" or "error"'),
    ("unknown event field", set_event(0, "latency_ms", 12), "events[0].latency_ms", "is not a known field"),
    (
        "error on an ok event",
        set_event(0, "error", {"code": "X", "message": "", "request_id": "r", "source_ip": "10.0.0.1"}),
        "events[0].error",
        'is only allowed when status is "error"',
    ),
    (
        "null error on an ok event",
        set_event(0, "error", None),
        "events[0].error",
        'is only allowed when status is "error"',
    ),
    ("error missing", drop("events", 1, "error"), "events[1].error", 'is required when status is "error"'),
    (
        "error not an object",
        set_event(1, "error", "boom"),
        "events[1].error",
        "must be an object with code, message, request_id and source_ip",
    ),
    ("code missing", drop("events", 1, "error", "code"), "events[1].error.code", "is required"),
    ("code empty", set_error("code", ""), "events[1].error.code", "must not be empty"),
    ("code too long", set_error("code", "C" * 65), "events[1].error.code", "must be at most 64 characters"),
    ("code a number", set_error("code", 404), "events[1].error.code", "must be a string"),
    ("message missing", drop("events", 1, "error", "message"), "events[1].error.message", "is required"),
    (
        "message too long",
        set_error("message", "m" * 1001),
        "events[1].error.message",
        "must be at most 1000 characters",
    ),
    (
        "message with a NUL",
        set_error("message", "bad\x00byte"),
        "events[1].error.message",
        "must not contain control characters",
    ),
    ("request_id missing", drop("events", 1, "error", "request_id"), "events[1].error.request_id", "is required"),
    (
        "request_id too long",
        set_error("request_id", "r" * 129),
        "events[1].error.request_id",
        "must be at most 128 characters",
    ),
    (
        "request_id with a newline",
        set_error("request_id", "req\n2"),
        "events[1].error.request_id",
        "must not contain control characters",
    ),
    ("source_ip missing", drop("events", 1, "error", "source_ip"), "events[1].error.source_ip", "is required"),
    (
        "source_ip invalid",
        set_error("source_ip", "999.1.1.1"),
        "events[1].error.source_ip",
        "must be an IPv4 or IPv6 address",
    ),
    (
        "source_ip a range",
        set_error("source_ip", "10.0.0.0/8"),
        "events[1].error.source_ip",
        "must be an IPv4 or IPv6 address",
    ),
    (
        "source_ip with a zone",
        set_error("source_ip", "fe80::1%eth0"),
        "events[1].error.source_ip",
        "must be an IPv4 or IPv6 address",
    ),
    (
        "source_ip a number",
        set_error("source_ip", 167772161),
        "events[1].error.source_ip",
        "must be an IPv4 or IPv6 address",
    ),
    ("unknown error field", set_error("stack", "..."), "events[1].error.stack", "is not a known field"),
]


@pytest.mark.parametrize(("change", "path", "message"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS])
def test_bad_field_is_named_and_nothing_is_stored(post_usage, organisation, change, path, message):
    body = valid_body(organisation.public_id)
    change(body)

    response = post_usage(body)

    assert response.status_code == 400
    assert response.json() == {"errors": {path: message}}
    assert stored_rows() == NOTHING_STORED


def test_time_more_than_a_day_ahead_is_refused(post_usage, organisation):
    body = batch(ok_event(organisation.public_id, at=timezone.now() + timedelta(days=1, minutes=5)))

    response = post_usage(body)

    assert response.status_code == 400
    assert response.json()["errors"] == {"events[0].at": "must not be more than a day in the future"}
    assert stored_rows() == NOTHING_STORED


def test_clock_skew_of_a_few_hours_is_accepted(post_usage, organisation):
    body = batch(ok_event(organisation.public_id, at=timezone.now() + timedelta(hours=3)))

    assert post_usage(body).status_code == 200


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"this is not json", "is not valid JSON: Expecting value (line 1, column 1)"),
        (b'{"batch_id": "b", "events": [', "is not valid JSON: Expecting value (line 1, column 30)"),
        (b"\xff\xfe{}", "must be JSON encoded as UTF-8"),
        (b"", "is not valid JSON: Expecting value (line 1, column 1)"),
        (b'[{"batch_id": "b"}]', "must be a JSON object"),
        (b'"batch"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'{"batch_id": "b", "events": NaN}', "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    ],
    ids=["text", "truncated", "not-utf8", "empty", "list", "string", "null", "nan", "deep-nesting"],
)
def test_body_that_is_not_a_json_object_is_refused(post_usage, raw, message):
    response = post_usage(raw)

    assert response.status_code == 400
    assert response.json() == {"errors": {"body": message}}
    assert stored_rows() == NOTHING_STORED


def test_lone_surrogate_in_a_string_is_refused(post_usage, organisation):
    body = json.dumps(valid_body(organisation.public_id)).replace('"req_1"', '"req\\ud800"')

    response = post_usage(body.encode())

    assert response.status_code == 400
    assert response.json()["errors"] == {"events[1].error.request_id": "must be valid Unicode text"}
    assert stored_rows() == NOTHING_STORED


def test_every_bad_field_is_named_in_one_answer(post_usage, organisation):
    org = organisation.public_id
    body = batch(
        ok_event(org),
        ok_event(org) | {"method": "Tokenize!"},
        ok_event(org) | {"at": "soon"},
        error_event(org, source_ip="localhost"),
        ok_event("org_ffffffffffffffff"),
    )
    body["batch_id"] = ""

    response = post_usage(body)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "batch_id": "must not be empty",
            "events[1].method": METHOD_MESSAGE,
            "events[2].at": TIME_MESSAGE,
            "events[3].error.source_ip": "must be an IPv4 or IPv6 address",
            "events[4].org": "unknown organisation",
        }
    }
    assert stored_rows() == NOTHING_STORED


def test_unknown_organisation_is_named_even_when_the_event_has_other_faults(post_usage, organisation):
    body = batch(ok_event("org_ffffffffffffffff") | {"status": "maybe"})

    response = post_usage(body)

    assert response.json()["errors"] == {
        "events[0].org": "unknown organisation",
        "events[0].status": 'must be "ok" or "error"',
    }


def test_one_unknown_organisation_stores_nothing_of_the_batch(post_usage, organisation):
    body = batch(*(ok_event(organisation.public_id) for _ in range(20)), ok_event("org_ffffffffffffffff"))

    response = post_usage(body)

    assert response.status_code == 400
    assert response.json() == {"errors": {"events[20].org": "unknown organisation"}}
    assert stored_rows() == NOTHING_STORED


def test_the_list_of_problems_stops_at_a_hundred(post_usage, organisation):
    body = batch(*(ok_event(organisation.public_id) | {"method": "bad method"} for _ in range(250)))

    response = post_usage(body)

    answer = response.json()
    assert response.status_code == 400
    assert len(answer["errors"]) == 100
    assert answer["errors"]["events[99].method"] == METHOD_MESSAGE
    assert answer["truncated"] is True


def test_batch_over_the_event_limit_is_refused(post_usage, organisation, settings):
    settings.INGEST_MAX_EVENTS_PER_BATCH = 3

    response = post_usage(batch(*(ok_event(organisation.public_id) for _ in range(4))))

    assert response.status_code == 400
    assert response.json() == {"errors": {"events": "must contain at most 3 events; split the batch"}}
    assert stored_rows() == NOTHING_STORED


def test_body_over_the_upload_limit_is_refused(post_usage, organisation, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = post_usage(batch(*(ok_event(organisation.public_id) for _ in range(50))))

    assert response.status_code == 413
    assert response.json() == {"errors": {"body": "is too large; send smaller batches"}}
    assert stored_rows() == NOTHING_STORED


# --- Keys and methods --------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "ppk_nothing_here", "not-even-a-key"], ids=["missing", "unknown", "malformed"])
def test_without_a_valid_key_nothing_is_stored(organisation, platform_key, key):
    response = post_json(USAGE_URL, valid_body(organisation.public_id), key=key)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="platform"'
    assert stored_rows() == NOTHING_STORED


def test_revoked_key_stores_nothing(organisation, platform_key):
    key_services.revoke_key(key=PlatformKey.objects.get(), acting_user=None)

    response = post_json(USAGE_URL, valid_body(organisation.public_id), key=platform_key)

    assert response.status_code == 401
    assert stored_rows() == NOTHING_STORED


def test_bad_input_from_an_unknown_caller_is_answered_401_not_400(organisation):
    assert post_json(USAGE_URL, b"garbage", key=None).status_code == 401


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client, platform_key, method):
    response = getattr(client, method)(USAGE_URL, headers={"Authorization": f"Bearer {platform_key}"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert stored_rows() == NOTHING_STORED


def test_session_login_does_not_replace_the_platform_key(owner_client, organisation):
    response = owner_client.post(USAGE_URL, data=valid_body(organisation.public_id), content_type="application/json")

    assert response.status_code == 401
    assert stored_rows() == NOTHING_STORED


def test_a_new_organisation_can_be_reported_at_once(post_usage):
    newcomer = OrganisationFactory(name="Initech")

    at = hours_ago(0.1)

    response = post_usage(batch(ok_event(newcomer.public_id, at=at)))

    assert response.status_code == 200
    assert counters(newcomer.pk) == {("Tokenize", at.date().isoformat()): (1, 0)}


# --- Cost independent of how many organisations a batch touches ----------------------------------


class _CacheCalls:
    """Counts the cache operations (each one round trip to Redis) made while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from django.core.cache import cache

        self.calls = 0
        for name in ("get", "set", "add", "incr", "delete", "get_many", "set_many", "delete_many"):
            original = getattr(cache, name)

            def counted(*args: object, _original=original, **kwargs: object) -> object:
                self.calls += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(cache, name, counted)


@pytest.mark.redis  # counts round trips to Redis (the in-process cache of a bare `make test` makes others)
@pytest.mark.parametrize("organisations", [2, 40])
def test_a_batch_for_many_organisations_refreshes_each_dashboard_in_a_fixed_number_of_cache_calls(
    post_usage, monkeypatch, django_capture_on_commit_callbacks, organisations
):
    orgs = OrganisationFactory.create_batch(organisations)
    spy = _CacheCalls(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_usage(batch(*(ok_event(org.public_id) for org in orgs), batch_id=f"many-{organisations}"))

    assert response.status_code == 200
    assert {org.pk for org in orgs} <= {row.organisation_id for row in DailyMethodCount.objects.all()}
    # Before: one INCR per organisation, twice (a 1,000-organisation batch spent 12 s in Redis).
    assert spy.calls <= 4, f"{spy.calls} cache calls for {organisations} organisations"
