"""Support reads every organisation's API keys in the admin, and may only revoke one (through the service)."""

from django.core import mail

from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.apikeys.helpers import make_key

BASE = "/admin/apikeys/apikey"


def test_support_sees_keys_per_organisation_with_prefixes_never_hashes(support_client, organisation, owner, outsider):
    key, plain = make_key(organisation, owner, "Acme web shop")
    make_key(outsider.organisation, outsider, "Globex shop")
    secret = key.secrets.get()

    listed = support_client.get(f"{BASE}/").content.decode()
    detail = support_client.get(f"{BASE}/{key.pk}/change/").content.decode()
    found = support_client.get(f"{BASE}/?q={secret.prefix}").content.decode()

    assert "Acme web shop" in listed and "Globex shop" in listed
    assert secret.prefix in detail and "Tokenize" in detail
    assert "Acme web shop" in found and "Globex shop" not in found
    for text in (listed, detail, found):
        assert secret.secret_hash not in text and plain not in text


def test_support_cannot_add_change_or_delete_keys(support_client, organisation, owner):
    key, _ = make_key(organisation, owner, "Acme web shop")

    assert support_client.get(f"{BASE}/add/").status_code == 403
    assert support_client.post(f"{BASE}/{key.pk}/delete/", {"post": "yes"}).status_code == 403
    page = support_client.get(f"{BASE}/{key.pk}/change/").content.decode()
    assert 'name="name"' not in page and 'name="methods"' not in page
    support_client.post(f"{BASE}/{key.pk}/change/", {"name": "Changed", "methods": '["*"]'})

    key.refresh_from_db()
    assert (key.name, key.methods) == ("Acme web shop", ["Tokenize"])


def test_support_revokes_a_leaked_key_audited_and_emailed(
    support_client, support, organisation, owner, django_capture_on_commit_callbacks
):
    key, _ = make_key(organisation, owner, "Acme web shop")
    already, _ = make_key(organisation, owner, "Old one")
    support_client.post(f"{BASE}/", {"action": "revoke", "_selected_action": [already.pk]})

    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            f"{BASE}/", {"action": "revoke", "_selected_action": [key.pk, already.pk]}, follow=True
        )

    text = response.content.decode()
    assert "1 key(s) revoked" in text and "“Old one” was already revoked." in text
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == support
    event = AuditEvent.objects.filter(action="api_key.revoked").latest("at")
    assert (event.actor, event.organisation) == (support, organisation)
    assert [m.to for m in mail.outbox] == [["owner@acme.example"]]
    assert "Support revoked the API key “Acme web shop”" not in mail.outbox[0].body  # plain text: quotes
    assert 'Support revoked the API key "Acme web shop"' in mail.outbox[0].body


def test_customers_cannot_open_the_admin_list(owner_client, organisation, owner):
    make_key(organisation, owner, "Acme web shop")

    response = owner_client.get(f"{BASE}/")

    assert response.status_code in {302, 403}
    assert "Acme web shop" not in response.content.decode()
    assert ApiKey.objects.get().revoked_at is None
