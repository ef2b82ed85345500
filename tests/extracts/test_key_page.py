"""The extract encryption key page (issue #17): admins set, replace and remove the age public key
extracts are encrypted to, after confirming their password; each change audited and emailed."""

import pytest
from django.core import mail
from django.test import Client
from pyrage import x25519

from accounts.reauth import SESSION_KEY as REAUTH_KEY
from audit.models import AuditEvent
from extracts import services
from extracts.models import ExtractKey
from tests.conftest import log_in
from tests.conftest import page_text as page
from tests.factories import PASSWORD, AdminFactory

URL, REMOVE = "/extracts/key/", "/extracts/key/remove/"


def public_key() -> str:
    return str(x25519.Identity.generate().to_public())


def forget_password_confirmation(client: Client) -> None:
    session = client.session
    del session[REAUTH_KEY]
    session.save()


@pytest.fixture
def recipient() -> str:
    return public_key()


@pytest.mark.django_db
def test_an_admin_sets_the_key_and_every_admin_is_told(
    owner, owner_client, recipient, django_capture_on_commit_callbacks
):
    colleague = AdminFactory(organisation=owner.organisation)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(URL, {"recipient": f"  {recipient}\n"})

    assert response.status_code == 302 and response["Location"] == URL
    key = ExtractKey.objects.get(organisation=owner.organisation)
    assert (key.recipient, key.set_by) == (recipient, owner)
    shown = page(owner_client.get(URL))
    assert recipient in shown and "Remove the key" in shown
    event = AuditEvent.objects.get(action="extract.key_set")
    assert event.actor == owner and event.organisation == owner.organisation
    assert event.details["recipient"] == recipient
    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.email, colleague.email])
    assert all(recipient in m.body and "/extracts/key/" in m.body for m in mail.outbox)


@pytest.mark.django_db
def test_the_extracts_page_says_whether_and_to_which_key_extracts_are_encrypted(owner, owner_client, recipient):
    assert "Not encrypted." in page(owner_client.get("/extracts/"))

    services.set_extract_key(acting_user=owner, recipient=recipient)

    shown = page(owner_client.get("/extracts/"))
    assert f'Encrypted to your age key <code title="{recipient}">{recipient[:8]}…{recipient[-6:]}</code>' in shown


@pytest.mark.django_db
def test_replacing_the_key_is_audited_with_both_keys(
    owner, owner_client, recipient, django_capture_on_commit_callbacks
):
    services.set_extract_key(acting_user=owner, recipient=recipient)
    newer = public_key()

    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(URL, {"recipient": newer}).status_code == 302

    assert ExtractKey.objects.get().recipient == newer
    event = AuditEvent.objects.get(action="extract.key_replaced")
    assert (event.details["recipient"], event.details["previous"]) == (newer, recipient)
    assert mail.outbox and f"It replaces {recipient}" in mail.outbox[0].body


@pytest.mark.django_db
def test_removing_the_key_asks_first_then_extracts_are_plain_again(
    owner, owner_client, recipient, django_capture_on_commit_callbacks
):
    services.set_extract_key(acting_user=owner, recipient=recipient)

    assert "Remove the extract encryption key?" in page(owner_client.get(REMOVE))
    assert ExtractKey.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(REMOVE)

    assert response.status_code == 302 and response["Location"] == URL
    assert not ExtractKey.objects.exists()
    assert AuditEvent.objects.get(action="extract.key_removed").details["recipient"] == recipient
    assert mail.outbox and "plain gzip CSV files again" in mail.outbox[0].body
    assert "Not encrypted" in page(owner_client.get(URL))


@pytest.mark.django_db
def test_removing_when_there_is_no_key_says_so(owner_client):
    response = owner_client.post(REMOVE, follow=True)

    assert "there is no key to remove" in page(response)
    assert not AuditEvent.objects.filter(action__startswith="extract.key").exists()


BAD_KEYS = {
    "empty": ("", "Paste your age public key"),
    "only a comment": ("# public key:", "Paste your age public key"),
    "nonsense": ("hello", "not SSH, OpenPGP or post-quantum keys"),
    "a bad checksum": (None, "This is not an age public key"),
    "an ssh key": ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2 me@laptop", "not SSH, OpenPGP"),
    "an OpenPGP key": ("-----BEGIN PGP PUBLIC KEY BLOCK-----", "not SSH, OpenPGP"),
    "two keys": (None, "Paste one public key only"),
    "too long": ("age1" + "q" * 3000, "at most 2000 characters"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_a_bad_key_gets_a_clear_message_and_nothing_is_saved(owner_client, case, django_capture_on_commit_callbacks):
    raw, message = BAD_KEYS[case]
    good = public_key()
    if case == "a bad checksum":
        raw = good[:-1] + ("q" if good[-1] != "q" else "p")
    if case == "two keys":
        raw = f"{good}\n{public_key()}"

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(URL, {"recipient": raw})

    assert response.status_code == 400
    assert message in page(response)
    assert not ExtractKey.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="extract.key").exists()
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_pasted_secret_key_is_refused_and_never_echoed_stored_or_logged(owner_client, caplog):
    identity = x25519.Identity.generate()
    key_file = f"# created: 2026-12-03T10:00:00Z\n# public key: {identity.to_public()}\n{identity}\n"

    response = owner_client.post(URL, {"recipient": key_file})

    assert response.status_code == 400
    text = page(response)
    assert "This is a secret key" in text
    assert str(identity) not in text
    assert str(identity) not in caplog.text
    assert not ExtractKey.objects.exists() and not AuditEvent.objects.filter(action__startswith="extract.").exists()


@pytest.mark.django_db
def test_setting_the_same_key_again_says_so_and_changes_nothing(
    owner, owner_client, recipient, django_capture_on_commit_callbacks
):
    services.set_extract_key(acting_user=owner, recipient=recipient)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(URL, {"recipient": recipient})

    assert response.status_code == 400 and "already encrypted to this key" in page(response)
    assert AuditEvent.objects.filter(action__startswith="extract.key").count() == 1
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize("url", [URL, REMOVE])
def test_every_change_asks_for_the_password_again_first(owner, owner_client, recipient, url):
    services.set_extract_key(acting_user=owner, recipient=recipient)
    forget_password_confirmation(owner_client)
    newer = public_key()

    for method in ("get", "post"):
        response = getattr(owner_client, method)(url, {"recipient": newer} if method == "post" else None)
        assert response.status_code == 302
        assert response["Location"] == "/reauthenticate/?next=" + url.replace("/", "%2F")
    assert ExtractKey.objects.get().recipient == recipient

    confirmed = owner_client.post(response["Location"], {"password": PASSWORD})
    assert confirmed.status_code == 302 and confirmed["Location"] == url
    assert owner_client.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_member_may_not_see_or_change_the_key(owner, member_client, recipient, method):
    services.set_extract_key(acting_user=owner, recipient=recipient)
    send = getattr(member_client, method)

    for url in (URL, REMOVE):
        response = send(url, {"recipient": public_key()} if method == "post" else None)
        assert response.status_code == 403, url
        assert "admins can set the key token extracts are encrypted to" in page(response)
    assert ExtractKey.objects.get().recipient == recipient


@pytest.mark.django_db
def test_another_organisation_neither_sees_nor_changes_our_key(owner, outsider, recipient):
    services.set_extract_key(acting_user=owner, recipient=recipient)
    theirs = log_in(Client(), outsider)

    assert recipient not in page(theirs.get(URL))
    assert recipient not in page(theirs.get("/extracts/"))
    assert theirs.post(REMOVE).status_code == 302  # "no key to remove": theirs, not ours
    newer = public_key()
    assert theirs.post(URL, {"recipient": newer}).status_code == 302

    assert ExtractKey.objects.get(organisation=owner.organisation).recipient == recipient
    assert ExtractKey.objects.get(organisation=outsider.organisation).recipient == newer


@pytest.mark.django_db
def test_the_key_page_asks_a_fixed_number_of_queries(owner, owner_client, recipient, django_assert_max_num_queries):
    services.set_extract_key(acting_user=owner, recipient=recipient)
    owner_client.get(URL)
    with django_assert_max_num_queries(12):
        assert owner_client.get(URL).status_code == 200
