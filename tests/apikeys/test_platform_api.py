"""GET /api/platform/v1/keys/<org public id>: what the gateways poll to check presented keys."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from apikeys import services
from platform_api import services as platform_keys
from tests.apikeys.helpers import make_key, whitelist

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture
def platform(db) -> Client:
    _, plain = platform_keys.issue_key(name="gateway-eu", acting_user=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def url(organisation) -> str:
    return f"/api/platform/v1/keys/{organisation.public_id}"


def test_without_a_platform_key_the_answer_is_401(client, organisation, owner):
    make_key(organisation, owner, "Web shop")

    response = client.get(url(organisation))

    assert response.status_code == 401
    assert "Web shop" not in response.content.decode()


def test_an_unknown_organisation_is_404(platform):
    response = platform.get("/api/platform/v1/keys/org_0000000000000000")

    assert response.status_code == 404
    assert response.json() == {"error": "No organisation has this id."}


def test_each_secret_comes_with_its_hash_scope_and_validity_never_the_secret(platform, organisation, owner):
    whitelist(organisation, owner, "203.0.113.0/24")
    with time_machine.travel(NOW, tick=False):
        shop, shop_secret = make_key(organisation, owner, "Web shop", methods=["Tokenize"])
        office, office_secret = make_key(
            organisation, owner, "Back office", methods=["Detokenize"], addresses=["203.0.113.24", "203.0.113.10"]
        )
        _, rolled_secret = services.roll_key(key=office, overlap="1h", acting_user=owner)
        response = platform.get(url(organisation))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.content.decode()
    for secret in (shop_secret, office_secret, rolled_secret):
        assert secret not in body
        assert secret.rsplit("_", 1)[1] not in body
    document = response.json()
    assert {k: v for k, v in document.items() if k != "keys"} == {
        "organisation": organisation.public_id,
        "environment": "test",
        "hash_algorithm": "sha256",
    }
    entries = {entry["prefix"]: entry for entry in document["keys"]}
    assert [e["prefix"] for e in document["keys"]] == sorted(entries)
    shop_prefix = shop.secrets.get().prefix
    assert entries[shop_prefix] == {
        "name": "Web shop",
        "prefix": shop_prefix,
        "hash": shop.secrets.get().secret_hash,
        "allowed_methods": ["Tokenize"],
        "allowed_addresses": None,
        "valid_from": "2026-11-26T10:00:00Z",
        "valid_until": None,
    }
    office_entries = [e for e in document["keys"] if e["name"] == "Back office"]
    assert len(office_entries) == 2  # the new secret, and the old one during its overlap
    assert {e["valid_until"] for e in office_entries} == {None, "2026-11-26T11:00:00Z"}
    assert all(e["allowed_addresses"] == ["203.0.113.10/32", "203.0.113.24/32"] for e in office_entries)
    assert all(e["allowed_methods"] == ["Detokenize"] for e in office_entries)


def test_expiry_is_the_end_of_every_secret_of_the_key(platform, organisation, owner):
    with time_machine.travel(NOW, tick=False):
        make_key(organisation, owner, "Web shop", expires_on=(NOW + timedelta(days=2)).date())
        [entry] = platform.get(url(organisation)).json()["keys"]
    assert entry["valid_until"] == "2026-11-28T00:00:00Z"

    with time_machine.travel(datetime(2026, 11, 28, tzinfo=UTC), tick=False):
        assert platform.get(url(organisation)).json()["keys"] == []


def test_another_organisations_keys_never_appear(platform, organisation, owner, outsider):
    make_key(organisation, owner, "Web shop")
    make_key(outsider.organisation, outsider, "Globex secret shop")

    body = platform.get(url(organisation)).content.decode()

    assert "Web shop" in body
    assert "Globex" not in body


def test_polling_with_the_etag_is_304_until_a_key_changes(platform, organisation, owner):
    key, _ = make_key(organisation, owner, "Web shop")
    first = platform.get(url(organisation))
    etag = first["ETag"]
    assert etag.startswith('"') and len(etag) == 66
    assert first["Cache-Control"] == "private, no-cache"

    unchanged = platform.get(url(organisation), HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged["ETag"] == etag

    services.revoke_key(key=key, acting_user=owner)
    changed = platform.get(url(organisation), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert json.loads(changed.content)["keys"] == []


def test_the_document_is_read_only(platform, organisation):
    response = platform.post(url(organisation), {})

    assert response.status_code == 405
