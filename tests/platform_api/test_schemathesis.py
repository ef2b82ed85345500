"""Schemathesis against the platform API, as the portal serves and documents it (SPEC §4, §5; API keys, issue 20).

The schema is the document the app serves at /api/platform/v1/openapi.json, fetched through the
project's WSGI application, and every generated request goes through that application too. It runs
in this thread, on the test's database connection and inside its transaction: what a call stored
can be counted here, and is gone after the test, on SQLite and PostgreSQL alike.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from apikeys import services as api_keys
from dashboard.models import DailyMethodCount, ErrorLog, IngestedBatch, VaultStat
from platform_api import services as key_services
from portal.wsgi import application
from tests.dashboard.helpers import NOTHING_STORED, batch, ok_event, stored_rows
from tests.whitelist.helpers import add

# Loaded when the module is imported (serving the document needs no database). The lazy
# schemathesis.pytest.from_fixture is no option: 4.32.5 reads `request.node._nodeid`, which pytest 9.2
# no longer has.
schema = schemathesis.openapi.from_wsgi("/api/platform/v1/openapi.json", application)

WHOLE_NUMBER = "must be a whole number of at least 0"
# The platform's reads, polled with an ETag.
READS = ("/whitelist/{org}", "/keys/{org}")
PAST_LEAP_YEAR = 2024


@pytest.fixture
def in_test_transaction(db):
    """Keep Django from closing the test's connection when each request starts and ends.

    Django's test client does the same. Without it, on PostgreSQL the first call closes the
    connection in the middle of the test transaction and every later one answers 500.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def listed(organisation, owner):
    """A network on the organisation's whitelist, so the platform's read has something to say."""
    return add(organisation, owner, "203.0.113.0/24", "Gateway")


@pytest.fixture
def customer_keys(organisation, owner, listed):
    """Two API keys, one rolled (two secrets during its overlap), so the platform's read of keys has entries."""
    key, _ = api_keys.create_key(
        organisation=organisation, name="Web shop", methods=["Tokenize"], addresses=["203.0.113.7"], acting_user=owner
    )
    api_keys.roll_key(key=key, overlap="24h", acting_user=owner)
    api_keys.create_key(organisation=organisation, name="Everything", methods=["*"], acting_user=owner)


@pytest.fixture
def platform_key(db) -> str:
    _, plain = key_services.issue_key(name="Schemathesis", acting_user=None)
    return plain


def stored() -> dict[str, Any]:
    """What the usage and vault tables hold, for every organisation."""
    totals = DailyMethodCount.objects.aggregate(calls=Sum("calls", default=0), errors=Sum("errors", default=0))
    return {
        "counter rows": DailyMethodCount.objects.count(),
        "calls": totals["calls"],
        "errors": totals["errors"],
        "error log": ErrorLog.objects.count(),
        "batches": IngestedBatch.objects.count(),
        "vault": VaultStat.objects.count(),
    }


def acceptable_time(value: str) -> bool:
    """At most a day ahead, and not before year 1 once in UTC (0001-01-01T00:00:00+00:01 is)."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return True  # left as sent: the portal must then accept it like any other valid time
    try:
        return at.astimezone(UTC) <= datetime.now(UTC) + timedelta(days=1)
    except OverflowError:
        return False


def aim_at(case, organisation) -> bool:
    """Make a schema-valid request one the portal must accept; False for requests left as generated.

    The document cannot say which public ids exist, nor which times are too far ahead or too far
    back (it says so in words): with a random id or year, nearly every valid request would stop at
    those rules and nothing would be stored. Their refusals have tests of their own.
    """
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return False
    if case.operation.path in READS:
        case.path_parameters["org"] = organisation.public_id
        return True
    items = case.body["events"] if case.operation.path == "/usage" else [case.body]
    for item in items:
        item["org"] = organisation.public_id
        if not acceptable_time(item["at"]):
            # RFC 3339 starts with the year; a leap year keeps 29 February a date.
            item["at"] = f"{PAST_LEAP_YEAR}{item['at'][4:]}"
    return True


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_platform_api_keeps_its_documented_contract(
    case, organisation, listed, customer_keys, platform_key, in_test_transaction
):
    valid = aim_at(case, organisation)
    auth = {"Authorization": f"Bearer {platform_key}"}
    before = stored()

    # Every built-in check: no 5xx, documented status codes, content types, headers and bodies,
    # invalid data refused, and (on each success) the same request refused without or with a wrong key.
    response = case.call_and_validate(
        headers=auth,
        # Replaced by the stricter expectations below, which know the organisation exists.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )

    after = stored()
    if 400 <= response.status_code < 500:
        assert after == before, f"a {response.status_code} answer stored something"
    if valid and case.operation.path == "/vault-stats" and isinstance(case.body["token_count"], float):
        # JSON Schema's "integer" takes 10.0 too; the document says in words that the portal does not.
        assert (response.status_code, response.json()) == (400, {"errors": {"token_count": WHOLE_NUMBER}})
    elif valid and case.operation.path in READS:
        assert response.status_code in (200, 304)
    elif valid:
        assert response.status_code == 200, response.text

    if response.status_code == 200 and case.operation.path == "/usage":
        answer = response.json()
        if answer["status"] == "stored":
            assert after["calls"] - before["calls"] == answer["events"] == len(case.body["events"])
            assert after["errors"] - before["errors"] == after["error log"] - before["error log"] == answer["errors"]
            assert after["batches"] - before["batches"] == 1
        else:
            assert after == before
    if response.status_code == 200 and case.operation.path == "/vault-stats":
        assert after["vault"] - before["vault"] == 1
    if response.status_code == 200 and case.operation.path == "/keys/{org}":
        # Never a secret: the document holds the two keys' three secrets by prefix and hash only.
        assert len(response.json()["keys"]) == 3
    if response.status_code == 200 and case.operation.path in READS:
        # The ETag just served must spare the next poll the body (and the 304 is checked like any answer).
        again = case.operation.Case(
            path_parameters=case.path_parameters, headers={"If-None-Match": response.headers["etag"][0]}
        )
        assert again.call_and_validate(headers=auth).status_code == 304


ERROR = {"code": "X", "message": "", "request_id": "r", "source_ip": "10.0.0.1"}


def usage(org: str, **changes: Any) -> dict[str, Any]:
    return batch({**ok_event(org), **changes})


def vault(org: str, **changes: Any) -> dict[str, Any]:
    return {"org": org, "at": "2025-03-01T12:00:00Z", "token_count": 10, **changes}


# Found by the run above while the document did not say so: the portal refuses each, and now the
# document does too.
REFUSED = {
    "error with status ok": (
        "/usage",
        lambda org: usage(org, error=ERROR),
        "events[0].error",
        'is only allowed when status is "error"',
    ),
    "status error without error": (
        "/usage",
        lambda org: usage(org, status="error"),
        "events[0].error",
        'is required when status is "error"',
    ),
    "control character in a code": (
        "/usage",
        lambda org: usage(org, status="error", error={**ERROR, "code": "X\x02"}),
        "events[0].error.code",
        "must not contain control characters",
    ),
    "escape sequence in a message": (
        "/usage",
        lambda org: usage(org, status="error", error={**ERROR, "message": "\x1b[31mred"}),
        "events[0].error.message",
        "must not contain control characters",
    ),
    "newline in a batch id": (
        "/usage",
        lambda org: {**usage(org), "batch_id": "b\n"},
        "batch_id",
        "must not contain control characters",
    ),
    "count beyond a 64-bit integer": (
        "/vault-stats",
        lambda org: vault(org, token_count=2**63),
        "token_count",
        WHOLE_NUMBER,
    ),
}


@pytest.mark.parametrize(("path", "body", "field", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_the_document_refuses_what_the_portal_refuses(
    organisation, platform_key, in_test_transaction, path, body, field, message
):
    operation = schema[path]["POST"]
    body = body(organisation.public_id)

    assert not operation.body[0].is_valid(body)
    response = operation.Case(body=body).call_and_validate(headers={"Authorization": f"Bearer {platform_key}"})
    assert (response.status_code, response.json()) == (400, {"errors": {field: message}})
    assert stored_rows() == NOTHING_STORED


@pytest.mark.parametrize("path", ["/usage", "/vault-stats"])
def test_a_body_too_large_gets_the_documented_answer(settings, organisation, platform_key, in_test_transaction, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50
    body = usage(organisation.public_id) if path == "/usage" else vault(organisation.public_id)

    response = (
        schema[path]["POST"].Case(body=body).call_and_validate(headers={"Authorization": f"Bearer {platform_key}"})
    )

    assert response.status_code == 413
    assert response.json() == {"errors": {"body": "is too large; send smaller batches"}}
    assert stored_rows() == NOTHING_STORED
