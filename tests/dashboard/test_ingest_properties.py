"""Whatever the platform (or anyone with its key) posts: never a 500, and a 400 stores nothing."""

import copy
import itertools
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dashboard.conftest import USAGE_URL, VAULT_URL, post_json
from tests.dashboard.helpers import batch, error_event, hours_ago, iso, ok_event, stored_rows
from tests.factories import OrganisationFactory

ORG = "org_00000000000000aa"
BATCH_NUMBERS = itertools.count()
MORNING = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["ok", "error", ORG, "Tokenize", "2025-03-01T12:00:00Z", "10.0.0.1", "", "\x00", "=1+1"])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _containers(value, path=()):
    """Every (path, container) in a JSON value, the value itself included."""
    if isinstance(value, dict | list):
        yield path, value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            yield from _containers(child, (*path, key))


awkward_characters = st.sampled_from(["\x00", "\n", "\x1f", "\x7f", "\ud800", "\udfff", "%", "/", " ", "é", "😀"])


def _strings(value):
    """Every (container, key) holding a string in a JSON value."""
    for _, container in _containers(value):
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, child in items:
            if isinstance(child, str):
                yield container, key


@st.composite
def mutated_batches(draw):
    # Fixed times: a strategy must draw the same way on every run.
    body = batch(
        ok_event(ORG, at=MORNING), error_event(ORG, at=MORNING), batch_id=draw(st.text(min_size=1, max_size=20))
    )
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        _, container = draw(st.sampled_from(list(_containers(body))))
        keys = list(container.keys()) if isinstance(container, dict) else list(range(len(container)))
        action = draw(st.sampled_from(["replace", "delete", "add", "garble"]))
        if action == "garble":
            # A stored text field gets a character databases choke on, or grows past its limit.
            holder, key = draw(st.sampled_from(list(_strings(body)) or [(body, "batch_id")]))
            text = str(holder.get(key, "") if isinstance(holder, dict) else holder[key])
            position = draw(st.integers(min_value=0, max_value=len(text)))
            insert = draw(awkward_characters) * draw(st.sampled_from([1, 2, 1001]))
            holder[key] = text[:position] + insert + text[position:]
        elif action == "add" or not keys:
            if isinstance(container, dict):
                container[draw(st.sampled_from(["org", "at", "status", "error", "extra", "events", "code"]))] = draw(
                    json_values
                )
            else:
                container.append(draw(json_values))
        elif action == "delete":
            del container[draw(st.sampled_from(keys))]
        else:
            container[draw(st.sampled_from(keys))] = draw(json_values)
    return body


def _check(response, before):
    assert response.status_code in (200, 400), response.content
    answer = response.json()
    if response.status_code == 400:
        assert answer["errors"], answer
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in answer["errors"].items())
        assert stored_rows() == before
    else:
        assert answer["status"] in ("stored", "duplicate")


PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture
def known_org(db):
    return OrganisationFactory(public_id=ORG)


@PROPERTY_SETTINGS
@given(body=json_values)
def test_any_json_value_gets_a_clear_answer(known_org, platform_key, body):
    before = stored_rows()
    _check(post_json(USAGE_URL, json.dumps(body), key=platform_key), before)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=200))
def test_any_bytes_get_a_clear_answer(known_org, platform_key, raw):
    before = stored_rows()
    _check(post_json(USAGE_URL, raw, key=platform_key), before)


@PROPERTY_SETTINGS
@given(body=mutated_batches())
def test_a_mutated_batch_is_stored_whole_or_not_at_all(known_org, platform_key, body):
    if isinstance(body.get("batch_id"), str):
        # A fresh id, so that a valid mutation is stored (not answered "duplicate") and its fields reach the database.
        body["batch_id"] = f"{next(BATCH_NUMBERS)}-{body['batch_id']}"
    before = stored_rows()
    response = post_json(USAGE_URL, json.dumps(body), key=platform_key)
    _check(response, before)
    if response.status_code == 200 and response.json()["status"] == "stored":
        assert stored_rows()["batches"] == before["batches"] + 1


TEXT_FIELDS = [
    ("batch_id",),
    ("events", 0, "org"),
    ("events", 0, "method"),
    ("events", 0, "at"),
    ("events", 1, "error", "code"),
    ("events", 1, "error", "message"),
    ("events", 1, "error", "request_id"),
    ("events", 1, "error", "source_ip"),
]
# Any code point, with a push towards what databases refuse (NUL, lone surrogates): JSON carries them.
any_text = st.text(alphabet=st.characters(exclude_categories=()) | awkward_characters, max_size=1100)


@PROPERTY_SETTINGS
@given(field=st.sampled_from(TEXT_FIELDS), text=any_text)
def test_any_text_in_any_field_is_stored_or_refused_cleanly(known_org, platform_key, field, text):
    body = batch(
        ok_event(ORG, at=hours_ago(2)), error_event(ORG, at=hours_ago(1)), batch_id=f"text-{next(BATCH_NUMBERS)}"
    )
    holder = body
    for step in field[:-1]:
        holder = holder[step]
    holder[field[-1]] = text
    before = stored_rows()
    _check(post_json(USAGE_URL, json.dumps(body), key=platform_key), before)


@st.composite
def vault_bodies(draw):
    body = {"org": ORG, "at": iso(MORNING), "token_count": 1000}
    for key in draw(st.sets(st.sampled_from(["org", "at", "token_count", "extra"]), max_size=3)):
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(json_values)
    return copy.deepcopy(body)


@PROPERTY_SETTINGS
@given(body=vault_bodies() | json_values)
def test_any_vault_report_gets_a_clear_answer(known_org, platform_key, body):
    before = stored_rows()
    response = post_json(VAULT_URL, json.dumps(body), key=platform_key)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["errors"]
        assert stored_rows() == before
    else:
        assert stored_rows()["vault"] == before["vault"] + 1
