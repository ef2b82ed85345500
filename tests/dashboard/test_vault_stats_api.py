"""POST /api/platform/v1/vault-stats: the vault's token count, as the platform reports it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dashboard.models import VaultStat
from platform_api import services as key_services
from platform_api.models import PlatformKey
from tests.dashboard.conftest import VAULT_URL, post_json
from tests.dashboard.helpers import NOTHING_STORED, stored_rows

TIME_MESSAGE = "must be an ISO-8601 time with a timezone, e.g. 2025-03-01T12:00:00Z"
COUNT_MESSAGE = "must be a whole number of at least 0"


def test_count_is_recorded(post_vault, organisation):
    response = post_vault({"org": organisation.public_id, "at": "2025-03-01T23:59:00+01:00", "token_count": 1_250_000})

    assert response.status_code == 200
    assert response.json() == {"status": "stored", "at": "2025-03-01T22:59:00+00:00", "token_count": 1_250_000}
    stat = VaultStat.objects.get()
    assert (stat.organisation, stat.at, stat.token_count) == (
        organisation,
        datetime(2025, 3, 1, 22, 59, tzinfo=UTC),
        1_250_000,
    )


def test_an_empty_vault_is_a_count_too(post_vault, organisation):
    assert (
        post_vault({"org": organisation.public_id, "at": "2025-03-01T12:00:00Z", "token_count": 0}).status_code == 200
    )
    assert VaultStat.objects.get().token_count == 0


def test_largest_count_a_database_holds_is_accepted(post_vault, organisation):
    body = {"org": organisation.public_id, "at": "2025-03-01T12:00:00Z", "token_count": 2**63 - 1}

    assert post_vault(body).status_code == 200


def _body(public_id, **changes):
    body = {"org": public_id, "at": "2025-03-01T12:00:00Z", "token_count": 10}
    for key, value in changes.items():
        if value is ...:
            del body[key]
        else:
            body[key] = value
    return body


BAD = [
    ("org missing", {"org": ...}, "org", "is required"),
    ("org unknown", {"org": "org_ffffffffffffffff"}, "org", "unknown organisation"),
    ("org a number", {"org": 7}, "org", "must be an organisation's public id (a string)"),
    ("at missing", {"at": ...}, "at", "is required"),
    ("at without timezone", {"at": "2025-03-01 12:00"}, "at", TIME_MESSAGE),
    ("count missing", {"token_count": ...}, "token_count", "is required"),
    ("count negative", {"token_count": -1}, "token_count", COUNT_MESSAGE),
    ("count a fraction", {"token_count": 10.5}, "token_count", COUNT_MESSAGE),
    ("count whole but a float", {"token_count": 10.0}, "token_count", COUNT_MESSAGE),
    ("count a string", {"token_count": "10"}, "token_count", COUNT_MESSAGE),
    ("count a boolean", {"token_count": True}, "token_count", COUNT_MESSAGE),
    ("count too big", {"token_count": 2**63}, "token_count", COUNT_MESSAGE),
    ("unknown field", {"vault": "eu-1"}, "vault", "is not a known field"),
]


@pytest.mark.parametrize(("changes", "path", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_field_is_named_and_nothing_is_stored(post_vault, organisation, changes, path, message):
    response = post_vault(_body(organisation.public_id, **changes))

    assert response.status_code == 400
    assert response.json() == {"errors": {path: message}}
    assert stored_rows() == NOTHING_STORED


def test_future_time_is_refused(post_vault, organisation):
    at = (timezone.now() + timedelta(days=2)).isoformat()

    response = post_vault(_body(organisation.public_id, at=at))

    assert response.json() == {"errors": {"at": "must not be more than a day in the future"}}
    assert stored_rows() == NOTHING_STORED


def test_every_bad_field_is_named(post_vault):
    response = post_vault({"org": "org_ffffffffffffffff", "at": "noon", "token_count": -5})

    assert response.json() == {
        "errors": {"org": "unknown organisation", "at": TIME_MESSAGE, "token_count": COUNT_MESSAGE}
    }


@pytest.mark.parametrize("raw", [b"[]", b"12", b"{", b"\x80"])
def test_body_that_is_not_a_json_object_is_refused(post_vault, raw):
    response = post_vault(raw)

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"body"}
    assert stored_rows() == NOTHING_STORED


def test_revoked_or_missing_key_stores_nothing(organisation, platform_key):
    body = _body(organisation.public_id)
    assert post_json(VAULT_URL, body, key=None).status_code == 401
    key_services.revoke_key(key=PlatformKey.objects.get(), acting_user=None)

    assert post_json(VAULT_URL, body, key=platform_key).status_code == 401
    assert stored_rows() == NOTHING_STORED


def test_only_post_is_allowed(client, platform_key):
    response = client.get(VAULT_URL, headers={"Authorization": f"Bearer {platform_key}"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
