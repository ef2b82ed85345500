"""GET /api/platform/v1/whitelist/<org public id>: the platform's gateways poll it with an ETag."""

import json
import re

import pytest
from django.test import Client
from django.utils.dateparse import parse_datetime

from platform_api import services as keys
from platform_api.models import PlatformKey
from tests.whitelist.helpers import add
from whitelist import services


@pytest.fixture
def issued(db) -> tuple[PlatformKey, str]:
    return keys.issue_key(name="gateway-eu", acting_user=None)


@pytest.fixture
def platform_key(issued) -> str:
    return issued[1]


@pytest.fixture
def platform(platform_key) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {platform_key}")


def url(organisation) -> str:
    return f"/api/platform/v1/whitelist/{organisation.public_id}"


def test_without_a_key_the_answer_is_401(client, organisation, owner):
    add(organisation, owner, "203.0.113.0/24")

    response = client.get(url(organisation))

    assert response.status_code == 401
    assert response.json() == {"error": "A valid platform key is required."}
    assert "203.0.113.0" not in response.content.decode()


def test_with_a_wrong_or_revoked_key_the_answer_is_401(organisation, owner, issued):
    key, platform_key = issued
    add(organisation, owner, "203.0.113.0/24")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {platform_key}").get(url(organisation)).status_code == 200

    wrong = Client(HTTP_AUTHORIZATION=f"Bearer {platform_key}x").get(url(organisation))
    keys.revoke_key(key=key, acting_user=None)
    revoked = Client(HTTP_AUTHORIZATION=f"Bearer {platform_key}").get(url(organisation))

    assert wrong.status_code == revoked.status_code == 401
    assert "203.0.113.0" not in revoked.content.decode()


def test_returns_the_networks_in_address_order_with_a_strong_etag(platform, organisation, owner):
    add(organisation, owner, "2001:db8::/48", "IPv6 servers")
    add(organisation, owner, "198.51.100.7", "Batch job")
    add(organisation, owner, "9.9.9.9", "Resolver host")
    last = add(organisation, owner, "203.0.113.0/24", "Office")

    response = platform.get(url(organisation))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert document["organisation"] == organisation.public_id
    assert document["networks"] == [
        {"network": "9.9.9.9/32", "description": "Resolver host"},
        {"network": "198.51.100.7/32", "description": "Batch job"},
        {"network": "203.0.113.0/24", "description": "Office"},
        {"network": "2001:db8::/48", "description": "IPv6 servers"},
    ]
    assert parse_datetime(document["updated_at"]) == last.added_at
    assert re.fullmatch(r'"[0-9a-f]{64}"', response["ETag"])
    assert "no-cache" in response["Cache-Control"]


def test_empty_whitelist_has_no_networks_and_no_update_time(platform, organisation):
    response = platform.get(url(organisation))

    assert response.status_code == 200
    assert response.json() == {"organisation": organisation.public_id, "networks": [], "updated_at": None}


def test_matching_if_none_match_gets_304_with_an_empty_body(platform, organisation, owner):
    add(organisation, owner, "203.0.113.0/24")
    etag = platform.get(url(organisation))["ETag"]

    response = platform.get(url(organisation), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_if_none_match_listing_several_etags_matches_any_of_them(platform, organisation, owner):
    add(organisation, owner, "203.0.113.0/24")
    etag = platform.get(url(organisation))["ETag"]

    response = platform.get(url(organisation), HTTP_IF_NONE_MATCH=f'"old", {etag}')

    assert response.status_code == 304


def test_stale_etag_gets_the_full_document(platform, organisation, owner):
    add(organisation, owner, "203.0.113.0/24")

    response = platform.get(url(organisation), HTTP_IF_NONE_MATCH='"something-else"')

    assert response.status_code == 200
    assert response.json()["networks"] == [{"network": "203.0.113.0/24", "description": "Office"}]


def test_etag_changes_after_an_addition_and_after_a_removal(platform, organisation, owner):
    office = add(organisation, owner, "203.0.113.0/24")
    first = platform.get(url(organisation))["ETag"]

    add(organisation, owner, "198.51.100.7", "Batch job")
    after_add = platform.get(url(organisation), HTTP_IF_NONE_MATCH=first)
    assert after_add.status_code == 200
    assert after_add["ETag"] != first
    assert len(after_add.json()["networks"]) == 2

    services.remove_entry(entry=office, acting_user=owner)
    after_remove = platform.get(url(organisation), HTTP_IF_NONE_MATCH=after_add["ETag"])
    assert after_remove.status_code == 200
    assert after_remove["ETag"] not in {first, after_add["ETag"]}
    document = after_remove.json()
    assert document["networks"] == [{"network": "198.51.100.7/32", "description": "Batch job"}]
    assert parse_datetime(document["updated_at"]) > parse_datetime(after_add.json()["updated_at"])


def test_removing_the_last_entry_still_reports_when_it_changed(platform, organisation, owner):
    office = add(organisation, owner, "203.0.113.0/24")
    services.remove_entry(entry=office, acting_user=owner)

    document = platform.get(url(organisation)).json()

    assert document["networks"] == []
    assert parse_datetime(document["updated_at"]) > office.added_at


def test_unknown_organisation_is_404_json(platform, organisation):
    response = platform.get("/api/platform/v1/whitelist/org_doesnotexist")

    assert response.status_code == 404
    assert response.json() == {"error": "No organisation has this id."}


def test_another_organisations_entries_are_never_returned(platform, organisation, owner, outsider):
    add(organisation, owner, "203.0.113.0/24", "Acme office")
    add(outsider.organisation, outsider, "198.51.100.0/24", "Globex office")

    acme = platform.get(url(organisation)).json()
    globex = platform.get(url(outsider.organisation)).json()

    assert acme["networks"] == [{"network": "203.0.113.0/24", "description": "Acme office"}]
    assert globex["networks"] == [{"network": "198.51.100.0/24", "description": "Globex office"}]
    assert globex["organisation"] == outsider.organisation.public_id


def test_etag_differs_between_organisations_with_the_same_networks(platform, organisation, owner, outsider):
    add(organisation, owner, "203.0.113.0/24", "Office")
    add(outsider.organisation, outsider, "203.0.113.0/24", "Office")

    acme = platform.get(url(organisation))
    globex = platform.get(url(outsider.organisation), HTTP_IF_NONE_MATCH=acme["ETag"])

    assert globex.status_code == 200
    assert globex["ETag"] != acme["ETag"]


def test_only_reading_is_allowed(platform, organisation):
    response = platform.post(url(organisation), data=json.dumps({"networks": []}), content_type="application/json")

    assert response.status_code == 405


def test_a_logged_in_portal_user_without_a_key_gets_401(owner_client, organisation, owner):
    add(organisation, owner, "203.0.113.0/24")

    assert owner_client.get(url(organisation)).status_code == 401
