"""Changing a key (/api-keys/<id>/edit/): its name, functions, source addresses or expiry, with the same
secret; checked as at creation, audited, emailed to the admins, and read by the gateways at once."""

import html
import re
from datetime import date

import pytest
from django.core import mail
from django.test import Client

from apikeys import services
from apikeys.models import ApiKey
from audit.models import AuditEvent
from platform_api import services as platform_keys
from tests.apikeys.helpers import make_key, whitelist
from tests.conftest import page_text as page

NEXT_YEAR = date.today().replace(year=date.today().year + 1, month=1, day=31)


@pytest.fixture
def key(organisation, owner) -> ApiKey:
    whitelist(organisation, owner, "203.0.113.0/24")
    return make_key(organisation, owner, "Web shop", addresses=["203.0.113.7"])[0]


def edit_url(key: ApiKey) -> str:
    return f"/api-keys/{key.pk}/edit/"


def form_of(key: ApiKey, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": key.name,
        "methods": key.methods,
        "addresses": "\n".join(key.addresses),
        "expires_on": "",
    }
    return data | changes


def test_the_form_shows_what_the_key_has_now(owner_client, key):
    text = page(owner_client.get(edit_url(key)))

    assert "Change “Web shop”" in text
    assert 'value="Web shop"' in text
    assert "203.0.113.7" in text
    checked = re.findall(r'<input type="checkbox" name="methods" value="(\w+)"[^>]* checked>', text)
    assert checked == ["Tokenize"]


def test_owner_narrows_a_key_and_the_gateways_read_it_with_the_same_secret(
    owner_client, owner, organisation, key, django_capture_on_commit_callbacks
):
    _, plain = platform_keys.issue_key(name="gateway-eu", acting_user=None)
    gateway = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    before = gateway.get(f"/api/platform/v1/keys/{organisation.public_id}")
    prefix = key.secrets.get().prefix

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            edit_url(key),
            form_of(key, name="Web shop EU", methods=["Tokenize", "Detokenize"], expires_on=NEXT_YEAR.isoformat()),
            follow=True,
        )

    assert "“Web shop EU” is changed (name, functions, expiry)" in page(response)
    key.refresh_from_db()
    assert (key.name, sorted(key.methods), key.expires_at.date()) == (
        "Web shop EU",
        ["Detokenize", "Tokenize"],
        NEXT_YEAR,
    )
    assert key.secrets.get().prefix == prefix  # the same secret
    after = gateway.get(f"/api/platform/v1/keys/{organisation.public_id}", HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    [entry] = after.json()["keys"]
    assert (sorted(entry["allowed_methods"]), entry["name"]) == (["Detokenize", "Tokenize"], "Web shop EU")
    assert entry["valid_until"] == f"{NEXT_YEAR.isoformat()}T00:00:00Z"
    event = AuditEvent.objects.get(action="api_key.changed")
    assert event.actor == owner
    assert event.details["before"]["name"] == "Web shop" and event.details["after"]["name"] == "Web shop EU"
    assert set(event.details["before"]) == {"name", "methods", "expires_at"}
    assert [m.subject for m in mail.outbox] == ["API key “Web shop EU” of Acme Payments Ltd changed"]
    assert (
        "may call Tokenize, Detokenize" in mail.outbox[0].body or "may call Detokenize, Tokenize" in mail.outbox[0].body
    )


def test_saving_without_a_change_stores_and_tells_nothing(owner_client, key, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(edit_url(key), form_of(key), follow=True)

    assert "Nothing changed: “Web shop” is as it was." in page(response)
    assert not AuditEvent.objects.filter(action="api_key.changed").exists()
    assert mail.outbox == []


def test_refused_changes_show_every_reason_and_store_nothing(owner_client, owner, organisation, key):
    response = owner_client.post(
        edit_url(key), form_of(key, name="Renamed", addresses="198.51.100.1", expires_on="2001-01-01")
    )

    assert response.status_code == 400
    text = html.unescape(page(response))
    assert "198.51.100.1/32 is not inside the organisation's whitelist" in text
    assert "Choose a day after today (UTC)" in text
    key.refresh_from_db()
    assert (key.name, key.methods, key.addresses, key.expires_at) == (
        "Web shop",
        ["Tokenize"],
        ["203.0.113.7/32"],
        None,
    )
    assert not AuditEvent.objects.filter(action="api_key.changed").exists()


def test_no_function_chosen_is_asked_again(owner_client, key):
    response = owner_client.post(edit_url(key), form_of(key, methods=[]))

    assert response.status_code == 400
    assert services.METHODS_REQUIRED in html.unescape(page(response))
    key.refresh_from_db()
    assert key.methods == ["Tokenize"]


def test_a_name_taken_by_another_key_is_refused(owner_client, owner, organisation, key):
    make_key(organisation, owner, "Back office")

    response = owner_client.post(edit_url(key), form_of(key, name="Back office"))

    assert response.status_code == 400
    assert "Another key is already called “Back office”: choose another name." in page(response)


def test_a_revoked_key_cannot_be_changed_and_the_page_says_why(owner_client, owner, key):
    services.revoke_key(key=key, acting_user=owner)

    form = owner_client.get(edit_url(key))
    refused = owner_client.post(edit_url(key), form_of(key, name="Renamed"))

    assert "This key was revoked: it cannot be changed." in page(form)
    assert refused.status_code == 400 and "“Web shop” was revoked: it cannot be changed." in page(refused)
    key.refresh_from_db()
    assert key.name == "Web shop"


def test_the_list_offers_change_to_those_who_may(owner_client, key):
    assert edit_url(key) in page(owner_client.get("/api-keys/"))


def test_the_list_offers_no_change_to_a_member(member_client, key):
    assert edit_url(key) not in page(member_client.get("/api-keys/"))


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_member_without_the_permission_is_forbidden(member_client, key, method):
    response = getattr(member_client, method)(edit_url(key), form_of(key, name="Mine") if method == "post" else None)

    assert response.status_code == 403
    key.refresh_from_db()
    assert key.name == "Web shop"


def test_another_organisations_key_is_404(outsider_client, key):
    assert outsider_client.get(edit_url(key)).status_code == 404
    assert outsider_client.post(edit_url(key), form_of(key, name="Taken over")).status_code == 404
    key.refresh_from_db()
    assert key.name == "Web shop"
