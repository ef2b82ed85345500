"""The /api-keys/ pages: everyone in the organisation reads the list; admins and granted users create,
roll and revoke, each time after confirming their password again."""

import re

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.reauth import SESSION_KEY as REAUTH_KEY
from apikeys import services
from apikeys.check import hash_secret, prefix_of
from apikeys.models import ApiKey, ApiKeySecret
from audit.models import AuditEvent
from tests.apikeys.helpers import grant_api_keys, make_key, whitelist
from tests.conftest import log_in
from tests.conftest import page_text as page
from tests.factories import PASSWORD

NEW_KEY = {"name": "Web shop", "methods": ["Tokenize"], "addresses": "", "expires_on": ""}


def forget_password_confirmation(client: Client) -> None:
    session = client.session
    del session[REAUTH_KEY]
    session.save()


def secret_on(response) -> str:
    found = re.search(r'data-testid="api-key-secret">([^<]+)<', page(response))
    assert found, "no secret on the page"
    return found.group(1)


@pytest.fixture
def key(organisation, owner) -> ApiKey:
    return make_key(organisation, owner, "Web shop")[0]


# --- The list ---------------------------------------------------------------------------------------


def test_member_reads_the_list_without_changing_anything(member_client, key):
    response = member_client.get("/api-keys/")

    assert response.status_code == 200
    text = page(response)
    assert "Web shop" in text
    assert f"<code>{key.secrets.get().prefix}…</code>" in text
    assert "Tokenize" in text and "ACTIVE" in text
    assert "/api-keys/add/" not in text
    assert f"/api-keys/{key.pk}/roll/" not in text and f"/api-keys/{key.pk}/revoke/" not in text
    assert "Your organisation's admins, and users they allow to, can create, change, roll and revoke keys." in text


def test_owner_sees_create_roll_and_revoke(owner_client, key):
    text = page(owner_client.get("/api-keys/"))

    assert 'href="/api-keys/add/"' in text
    assert f'href="/api-keys/{key.pk}/roll/"' in text
    assert f'href="/api-keys/{key.pk}/revoke/"' in text


def test_every_user_has_api_keys_in_the_navigation(member_client):
    assert 'href="/api-keys/"' in page(member_client.get("/"))


def test_empty_list_says_so(member_client):
    assert "No API keys yet" in page(member_client.get("/api-keys/"))


def test_the_list_never_shows_another_organisations_keys(owner_client, key, outsider):
    make_key(outsider.organisation, outsider, "Globex secret shop")

    text = page(owner_client.get("/api-keys/"))

    assert "Web shop" in text
    assert "Globex secret shop" not in text


def test_the_outsider_never_sees_this_organisations_keys(outsider_client, key):
    text = page(outsider_client.get("/api-keys/"))

    assert "Web shop" not in text
    assert key.secrets.get().prefix not in text


def test_revoked_and_rolled_keys_say_so(owner_client, organisation, owner, key):
    services.roll_key(key=key, overlap="24h", acting_user=owner)
    gone, _ = make_key(organisation, owner, "Old integration")
    services.revoke_key(key=gone, acting_user=owner)

    text = page(owner_client.get("/api-keys/"))

    assert text.count("<code>ak_test_") == 3  # the rolled key's two secrets, the revoked key's last
    assert "Rolled: old secret ends" in text
    assert "REVOKED" in text
    assert f"/api-keys/{gone.pk}/roll/" not in text


def test_the_list_issues_the_same_number_of_queries_for_2_and_25_keys(
    owner_client, organisation, owner, django_assert_max_num_queries
):
    whitelist(organisation, owner, "203.0.113.0/24")

    def make(count: int) -> None:
        ApiKey.objects.filter(organisation=organisation).delete()
        for n in range(count):
            made, _ = make_key(organisation, owner, f"Key {n}", addresses=[f"203.0.113.{n + 1}"])
            if n % 3 == 0:
                services.roll_key(key=made, overlap="7d", acting_user=owner)
            if n % 5 == 0:
                services.revoke_key(key=made, acting_user=owner)

    owner_client.get("/api-keys/")  # warm up: session and per-process caches
    make(2)
    with CaptureQueriesContext(connection) as two:
        response = owner_client.get("/api-keys/")
    assert page(response).count("<tr data-testid=") == 2

    make(25)
    with django_assert_max_num_queries(len(two)):
        response = owner_client.get("/api-keys/")
    assert page(response).count("<tr data-testid=") == 25


def test_anonymous_visitors_are_sent_to_login(client, key):
    for url in ["/api-keys/", "/api-keys/add/", "/api-keys/secret/", f"/api-keys/{key.pk}/roll/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


# --- Creating ---------------------------------------------------------------------------------------


def test_owner_creates_a_key_and_sees_its_secret_once(
    owner_client, organisation, owner, django_capture_on_commit_callbacks
):
    whitelist(organisation, owner, "203.0.113.0/24")
    form = owner_client.get("/api-keys/add/")
    assert form.status_code == 200
    assert "All functions, including ones the platform adds later" in page(form)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api-keys/add/",
            {
                "name": " Back office ",
                "methods": ["Detokenize"],
                "addresses": "203.0.113.10\n203.0.113.24, ",
                "expires_on": "2099-01-31",
            },
        )

    assert response.status_code == 302 and response["Location"] == "/api-keys/secret/"
    shown = owner_client.get("/api-keys/secret/")
    assert shown["Cache-Control"].startswith("max-age=0") or "no-store" in shown["Cache-Control"]
    secret = secret_on(shown)
    key = ApiKey.objects.get(organisation=organisation)
    stored = key.secrets.get()
    assert prefix_of(secret) == stored.prefix and stored.secret_hash == hash_secret(secret)
    assert (key.name, key.methods, key.addresses) == (
        "Back office",
        ["Detokenize"],
        ["203.0.113.10/32", "203.0.113.24/32"],
    )
    assert key.expires_at.isoformat() == "2099-01-31T00:00:00+00:00"
    assert "Copy the secret now: this page shows it once." in page(shown)
    assert 'data-copy="api-key-secret"' in page(shown)
    assert [m.to for m in mail.outbox] == [["owner@acme.example"]]

    again = owner_client.get("/api-keys/secret/")
    assert secret not in page(again)
    assert "This secret was already shown, and is never shown again." in page(again)
    assert secret not in page(owner_client.get("/api-keys/"))


def test_the_secret_page_without_a_new_secret_goes_to_the_list(owner_client):
    response = owner_client.get("/api-keys/secret/")

    assert response.status_code == 302 and response["Location"] == "/api-keys/"


def test_a_refused_key_keeps_the_form_with_every_reason_and_stores_nothing(owner_client, organisation):
    response = owner_client.post(
        "/api-keys/add/",
        {"name": "Web shop", "methods": ["*", "Tokenize"], "addresses": "203.0.113.7/24", "expires_on": "2001-01-01"},
    )
    unnamed = owner_client.post("/api-keys/add/", {**NEW_KEY, "name": " "})

    assert response.status_code == unnamed.status_code == 400
    assert services.NAME_REQUIRED in page(unnamed)
    text = page(response)
    assert 'value="Web shop"' in text
    assert "Choose either “All functions” or the functions the key may call, not both." in text
    assert "203.0.113.7/24 has host bits set; did you mean 203.0.113.0/24?" in text
    assert "Choose a day after today (UTC)" in text
    assert ApiKey.objects.count() == 0 and not AuditEvent.objects.filter(action__startswith="api_key.").exists()
    assert mail.outbox == []


def test_a_nonsense_date_gets_its_own_message(owner_client):
    response = owner_client.post("/api-keys/add/", {**NEW_KEY, "expires_on": "31/31/2030"})

    assert response.status_code == 400
    assert "Enter a date, such as 2030-01-31." in page(response)


@pytest.mark.parametrize("url", ["/api-keys/add/", "edit", "roll", "revoke"])
def test_every_change_asks_for_the_password_again_first(owner_client, key, url):
    url = {
        "edit": f"/api-keys/{key.pk}/edit/",
        "roll": f"/api-keys/{key.pk}/roll/",
        "revoke": f"/api-keys/{key.pk}/revoke/",
    }.get(url, url)
    forget_password_confirmation(owner_client)
    data = {**NEW_KEY, "name": "Another", "overlap": "1h"}

    for method in ("get", "post"):
        response = getattr(owner_client, method)(url, data if method == "post" else None)
        assert response.status_code == 302
        assert response["Location"] == "/reauthenticate/?next=" + url.replace("/", "%2F")
    assert (ApiKey.objects.count(), ApiKeySecret.objects.count()) == (1, 1)
    assert ApiKey.objects.get().revoked_at is None

    confirmed = owner_client.post(response["Location"], {"password": PASSWORD})
    assert confirmed.status_code == 302 and confirmed["Location"] == url
    assert owner_client.get(url).status_code == 200


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_member_without_the_permission_is_forbidden_every_change(member_client, key, method):
    send = getattr(member_client, method)
    for url in ["/api-keys/add/", f"/api-keys/{key.pk}/roll/", f"/api-keys/{key.pk}/revoke/"]:
        assert send(url, {**NEW_KEY, "overlap": "1h"} if method == "post" else None).status_code == 403, url
    assert (ApiKey.objects.count(), ApiKeySecret.objects.count()) == (1, 1)
    assert ApiKey.objects.get().revoked_at is None


def test_a_member_granted_manage_api_keys_creates_rolls_and_revokes(member, key):
    client = log_in(Client(), grant_api_keys(member))

    assert client.post("/api-keys/add/", NEW_KEY | {"name": "Member's key"}).status_code == 302
    assert client.post(f"/api-keys/{key.pk}/roll/", {"overlap": "none"}).status_code == 302
    assert client.post(f"/api-keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_by == member and key.secrets.count() == 2
    assert ApiKey.objects.get(name="Member's key").created_by == member


# --- Rolling and revoking ---------------------------------------------------------------------------


def test_rolling_shows_the_new_secret_once_and_lists_both_during_the_overlap(
    owner_client, key, django_capture_on_commit_callbacks
):
    old = key.secrets.get().prefix
    form = owner_client.get(f"/api-keys/{key.pk}/roll/")
    assert form.status_code == 200
    for label in ("No overlap: the current secret stops working at once", "1 hour", "24 hours", "7 days"):
        assert label in page(form)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/api-keys/{key.pk}/roll/", {"overlap": "7d"})

    assert response["Location"] == "/api-keys/secret/"
    shown = owner_client.get("/api-keys/secret/")
    secret = secret_on(shown)
    assert "New secret for “Web shop”" in page(shown)
    new = key.secrets.exclude(prefix=old).get()
    assert new.secret_hash == hash_secret(secret)
    listed = page(owner_client.get("/api-keys/"))
    assert f"<code>{new.prefix}…</code>" in listed and f"<code>{old}…</code>" in listed
    assert [m.subject for m in mail.outbox] == ["API key “Web shop” of Acme Payments Ltd rolled"]


def test_a_missing_or_wrong_overlap_is_asked_again(owner_client, key):
    for data in ({}, {"overlap": "3d"}):
        response = owner_client.post(f"/api-keys/{key.pk}/roll/", data)
        assert response.status_code == 400
        assert "Choose how long the current secret keeps working." in page(response)
    assert key.secrets.count() == 1


def test_a_revoked_key_cannot_be_rolled_and_the_page_says_why(owner_client, owner, key):
    services.revoke_key(key=key, acting_user=owner)

    form = owner_client.get(f"/api-keys/{key.pk}/roll/")
    refused = owner_client.post(f"/api-keys/{key.pk}/roll/", {"overlap": "1h"})

    assert "This key was revoked: it cannot be rolled." in page(form)
    assert refused.status_code == 400 and "“Web shop” was revoked: it cannot be rolled." in page(refused)
    assert key.secrets.count() == 1


def test_revoking_asks_first_then_ends_the_key(owner_client, key, django_capture_on_commit_callbacks):
    confirm = owner_client.get(f"/api-keys/{key.pk}/revoke/")
    assert "Revoke “Web shop”?" in page(confirm)
    assert ApiKey.objects.get().revoked_at is None

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/api-keys/{key.pk}/revoke/")

    assert response["Location"] == "/api-keys/"
    listed = page(owner_client.get("/api-keys/"))
    assert "“Web shop” is revoked" in listed and "REVOKED" in listed
    assert ApiKey.objects.get().revoked_at is not None
    assert [m.subject for m in mail.outbox] == ["API key “Web shop” of Acme Payments Ltd revoked"]

    twice = owner_client.post(f"/api-keys/{key.pk}/revoke/", follow=True)
    assert "“Web shop” was already revoked." in page(twice)


def test_another_organisations_key_is_404_for_every_page(outsider_client, key):
    for url in [f"/api-keys/{key.pk}/roll/", f"/api-keys/{key.pk}/revoke/"]:
        assert outsider_client.get(url).status_code == 404
        assert outsider_client.post(url, {"overlap": "none"}).status_code == 404
    assert key.secrets.count() == 1 and ApiKey.objects.get().revoked_at is None


def test_a_secret_waiting_in_a_session_is_shown_only_for_a_key_of_the_users_organisation(outsider_client, key):
    session = outsider_client.session
    session["api-key-secret-once"] = {"key": key.pk, "secret": "ak_test_x_y", "change": "created"}
    session.save()

    assert outsider_client.get("/api-keys/secret/").status_code == 404
