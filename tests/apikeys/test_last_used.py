"""Last used: the platform names the key prefix of each call in its usage batches; the key list shows
when each key was last used and its calls over 30 days, and flags keys unused for 90 days."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys import selectors, services
from apikeys.models import ApiKey, ApiKeyDailyUse
from platform_api import services as platform_keys
from tests.apikeys.helpers import make_key
from tests.conftest import page_text as page
from tests.dashboard.conftest import post_json
from tests.dashboard.helpers import NOTHING_STORED, batch, counters, ok_event, stored_rows

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
USAGE_URL = "/api/platform/v1/usage"


@pytest.fixture
def report(db):
    _, plain = platform_keys.issue_key(name="Platform reporter", acting_user=None)

    def post(*events, batch_id="b-1"):
        with time_machine.travel(NOW, tick=False):
            return post_json(USAGE_URL, batch(*events, batch_id=batch_id), key=plain)

    return post


def call(organisation, prefix, at, method="Tokenize", **extra):
    return {**ok_event(organisation.public_id, method, at), "key": prefix, **extra}


def uses(key: ApiKey) -> dict[str, tuple[int, datetime]]:
    return {u.day.isoformat(): (u.calls, u.last_used_at) for u in ApiKeyDailyUse.objects.filter(key=key)}


def prefix(key: ApiKey) -> str:
    return key.secrets.order_by("-created_at", "-id")[0].prefix


def test_calls_are_counted_per_key_and_utc_day_with_the_last_time(report, organisation, owner):
    key, _ = make_key(organisation, owner, "Web shop", now=NOW - timedelta(days=10))
    p = prefix(key)
    late = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)

    response = report(
        call(organisation, p, datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
        call(organisation, p, late),
        call(organisation, p, datetime(2026, 11, 26, 0, 30, tzinfo=UTC), status="error")
        | {"error": {"code": "X", "message": "", "request_id": "r", "source_ip": "203.0.113.9"}},
        ok_event(organisation.public_id, "Tokenize", datetime(2026, 11, 25, 9, 0, tzinfo=UTC)),  # no key named
    )

    assert response.status_code == 200, response.json()
    assert uses(key) == {
        "2026-11-25": (2, late),
        "2026-11-26": (1, datetime(2026, 11, 26, 0, 30, tzinfo=UTC)),
    }
    assert counters(organisation.pk)[("Tokenize", "2026-11-25")] == (3, 0)  # the dashboard counts as before


def test_later_batches_add_up_and_keep_the_latest_time(report, organisation, owner):
    key, _ = make_key(organisation, owner, "Web shop", now=NOW - timedelta(days=10))
    p = prefix(key)
    evening = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)

    report(call(organisation, p, evening), batch_id="b-1")
    report(call(organisation, p, evening - timedelta(hours=5)), call(organisation, p, evening), batch_id="b-2")

    assert uses(key) == {"2026-11-25": (3, evening)}


def test_a_resent_batch_is_counted_once(report, organisation, owner):
    key, _ = make_key(organisation, owner, "Web shop", now=NOW - timedelta(days=10))
    event = call(organisation, prefix(key), NOW - timedelta(hours=1))

    report(event, batch_id="b-1")
    assert report(event, batch_id="b-1").json()["status"] == "duplicate"

    assert uses(key) == {"2026-11-26": (1, NOW - timedelta(hours=1))}


def test_both_secrets_of_a_rolled_key_count_for_the_key(report, organisation, owner):
    key, _ = make_key(organisation, owner, "Web shop", now=NOW - timedelta(days=10))
    old = prefix(key)
    services.roll_key(key=key, overlap="24h", acting_user=owner, now=NOW - timedelta(hours=3))
    new = prefix(key)

    report(call(organisation, old, NOW - timedelta(hours=2)), call(organisation, new, NOW - timedelta(hours=1)))

    assert uses(key) == {"2026-11-26": (2, NOW - timedelta(hours=1))}


def test_a_prefix_of_no_key_or_of_another_organisations_key_counts_for_no_key(report, organisation, owner, outsider):
    theirs, _ = make_key(outsider.organisation, outsider, "Globex shop", now=NOW - timedelta(days=1))

    response = report(
        call(organisation, prefix(theirs), NOW - timedelta(hours=1)),
        call(organisation, "ak_test_000000000000", NOW - timedelta(hours=1)),
    )

    assert response.status_code == 200
    assert ApiKeyDailyUse.objects.count() == 0
    assert counters(organisation.pk)[("Tokenize", "2026-11-26")] == (2, 0)


@pytest.mark.parametrize("value", [None, 7, "", "ak test", "x" * 33, ["ak_test_0"], "ak-test-0123"])
def test_a_malformed_key_is_refused_with_the_batch(report, organisation, value):
    response = report(ok_event(organisation.public_id, at=NOW) | {"key": value})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"events[0].key": "must be the prefix of an API key: 1 to 32 letters, digits or underscores"}
    }
    assert stored_rows() == NOTHING_STORED
    assert ApiKeyDailyUse.objects.count() == 0


def test_many_keys_and_days_in_one_batch(report, organisation, owner):
    keys = [make_key(organisation, owner, f"Key {n}", now=NOW - timedelta(days=60))[0] for n in range(12)]
    events = [call(organisation, prefix(k), NOW - timedelta(days=d, hours=1)) for k in keys for d in range(25)]

    assert report(*events).status_code == 200

    assert ApiKeyDailyUse.objects.count() == 12 * 25
    assert sum(ApiKeyDailyUse.objects.values_list("calls", flat=True)) == 300


# --- The key list -----------------------------------------------------------------------------------


def test_the_list_shows_last_used_calls_in_30_days_and_flags_keys_unused_for_90_days(
    report, owner_client, organisation, owner
):
    busy, _ = make_key(organisation, owner, "Busy shop", now=NOW - timedelta(days=200))
    quiet, _ = make_key(organisation, owner, "Quiet batch job", now=NOW - timedelta(days=200))
    make_key(organisation, owner, "Never used", now=NOW - timedelta(days=91))
    make_key(organisation, owner, "Brand new", now=NOW - timedelta(days=2))
    report(
        *(call(organisation, prefix(busy), NOW - timedelta(days=d, hours=1)) for d in (0, 0, 5, 29, 30, 45)),
        call(organisation, prefix(quiet), NOW - timedelta(days=91)),
    )

    rows = {row.key.name: row for row in selectors.key_rows(user=owner, now=NOW)}
    with time_machine.travel(NOW, tick=False):
        text = page(owner_client.get("/api-keys/"))

    assert (rows["Busy shop"].last_used_at, rows["Busy shop"].recent_calls) == (NOW - timedelta(hours=1), 4)
    assert (rows["Quiet batch job"].recent_calls, rows["Quiet batch job"].unused) == (0, True)
    assert (rows["Never used"].last_used_at, rows["Never used"].unused) == (None, True)
    assert not rows["Busy shop"].unused and not rows["Brand new"].unused
    assert "26 Nov 2026, 09:00" in text
    assert text.count("Unused for 90 days") == 2
    assert "Calls, 30 days" in text


def test_a_revoked_key_is_never_flagged_unused(owner_client, organisation, owner):
    key, _ = make_key(organisation, owner, "Old", now=NOW - timedelta(days=200))
    services.revoke_key(key=key, acting_user=owner, now=NOW - timedelta(days=100))

    [row] = selectors.key_rows(user=owner, now=NOW)

    assert (row.state, row.unused) == ("revoked", False)


def test_the_list_queries_do_not_grow_with_keys_or_days_of_use(report, owner_client, organisation, owner):
    def make(count: int) -> None:
        ApiKey.objects.filter(organisation=organisation).delete()
        made = [make_key(organisation, owner, f"Key {n}", now=NOW - timedelta(days=60))[0] for n in range(count)]
        for n, key in enumerate(made):
            if n % 2:
                services.roll_key(key=key, overlap="7d", acting_user=owner, now=NOW - timedelta(days=1))
        events = [call(organisation, prefix(k), NOW - timedelta(days=d, hours=1)) for k in made for d in range(40)]
        report(*events, batch_id=f"b-{count}")

    owner_client.get("/api-keys/")  # warm up: session and per-process caches
    make(2)
    with CaptureQueriesContext(connection) as two:
        response = owner_client.get("/api-keys/")
    assert page(response).count("<tr data-testid=") == 2

    make(20)
    with CaptureQueriesContext(connection) as twenty:
        response = owner_client.get("/api-keys/")
    assert page(response).count("<tr data-testid=") == 20
    assert ApiKeyDailyUse.objects.count() == 20 * 40

    assert len(twenty) == len(two), "\n".join(q["sql"] for q in twenty.captured_queries)
