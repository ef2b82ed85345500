"""Passkeys on the server side: enrolment from the browser's attestation, the login with a signed
assertion, and every refusal (replay, another origin, a counter gone back, a disabled or another
organisation's passkey), through the real pages with a software authenticator
(tests/tokens/webauthn_authenticator.py) standing in for the browser."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from tests.accounts.test_login import submit_password
from tests.conftest import log_in
from tests.factories import PASSWORD, UserFactory
from tests.tokens.helpers import add_url, page
from tests.tokens.webauthn_authenticator import SoftwareAuthenticator, b64url, from_b64url, options_in
from tokens import services
from tokens.models import PasskeyDevice, Token, TokenKind

NEW_FACTOR_SUBJECT = "A new second factor was added to your portal account"
NOT_ACCEPTED = "That passkey was not accepted"


@pytest.fixture(autouse=True)
def _portal_address(settings):
    """The relying party is the portal's address; the test client's requests come to testserver."""
    settings.PORTAL_BASE_URL = "http://testserver"


def enrol(client: Client, url: str, key: SoftwareAuthenticator, name: str = "Blue key", **answer):
    options = options_in(page(client.get(url)), "passkey-options")
    return client.post(url, {"description": name, "credential": key.create(options, **answer)}, follow=True)


def enrolled_passkey(user, key: SoftwareAuthenticator | None = None) -> tuple[Token, SoftwareAuthenticator]:
    key = key or SoftwareAuthenticator()
    client = log_in(Client(), user)
    response = enrol(client, add_url(user, user, "passkey"), key)
    assert response.status_code == 200, page(response)
    return Token.objects.filter(user=user, kind=TokenKind.PASSKEY).latest("pk"), key


def past_password(user) -> Client:
    client = Client()
    assert submit_password(client, user.email, PASSWORD).url == "/login/code/"
    return client


def at_code_step(user) -> tuple[Client, dict]:
    client = past_password(user)
    return client, options_in(page(client.get("/login/code/")), "passkey-login-options")


def logged_in(client: Client) -> bool:
    return client.get("/tokens/").status_code == 200


# --- Enrolment --------------------------------------------------------------------------------


def test_enrolling_a_passkey_from_the_browsers_answer(
    actor, actor_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    url = add_url(actor, member, "passkey")
    response = actor_client.get(url)
    options = options_in(page(response), "passkey-options")
    assert options["rp"]["id"] == "testserver"
    assert options["attestation"] == "none"
    assert options["user"]["name"] == member.email
    key = SoftwareAuthenticator()

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(url, {"description": " Blue key ", "credential": key.create(options)}, follow=True)

    token = Token.objects.get(user=member, kind=TokenKind.PASSKEY)
    assert response.redirect_chain == [(f"/tokens/{token.pk}/", 302)]
    assert "Passkey added." in page(response)
    device = token.device
    assert token.description == "Blue key" and device.confirmed
    assert device.credential_id == b64url(key.credential_id)
    assert bytes(device.public_key) == key.cose_public_key()
    assert device.sign_count == 0 and device.transports == ["usb"] and device.last_used_at is None
    assert [(m.subject, m.to) for m in mailoutbox] == [(NEW_FACTOR_SUBJECT, [member.email])]
    event = AuditEvent.objects.get(action="token.enrolled", subject_user=member)
    assert event.actor == actor and event.target_label == f"Passkey #{token.pk}"
    listing = page(actor_client.get(add_url(actor, member, "passkey").replace("add/passkey/", "")))
    assert "Blue key" in listing and "Never" in listing
    assert "Test" not in page(actor_client.get(f"/tokens/{token.pk}/")).split("<h2>Actions</h2>")[1].split("Edit")[0]


def test_the_page_hands_the_browser_a_fresh_challenge_each_time_and_excludes_the_users_passkeys(member, member_client):
    token, _ = enrolled_passkey(member)
    url = add_url(member, member, "passkey")
    first = options_in(page(member_client.get(url)), "passkey-options")
    second = options_in(page(member_client.get(url)), "passkey-options")
    assert first["challenge"] != second["challenge"]
    assert [c["id"] for c in second["excludeCredentials"]] == [token.device.credential_id]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"description": "", "credential": "{}"}, "Enter a name for the passkey."),
        ({"description": "Blue key", "credential": ""}, "The browser did not create a passkey"),
        ({"description": "Blue key", "credential": "not json"}, "was not a passkey for this portal"),
        ({"description": "Blue key", "credential": '{"id": 1}'}, "was not a passkey for this portal"),
    ],
)
def test_a_bad_answer_is_refused_with_a_message_and_adds_nothing(member, member_client, data, says, mailoutbox):
    url = add_url(member, member, "passkey")
    member_client.get(url)

    response = member_client.post(url, data)

    assert response.status_code == 400
    assert says in page(response)
    assert not PasskeyDevice.objects.exists() and not Token.objects.filter(kind=TokenKind.PASSKEY).exists()
    assert not mailoutbox and not AuditEvent.objects.filter(action="token.enrolled").exists()


def test_an_answer_from_another_origin_or_for_another_rp_id_is_refused(member, member_client):
    url = add_url(member, member, "passkey")
    for answer in ({"origin": "https://portal.example.evil"}, {"rp_id": "evil.example"}):
        response = enrol(member_client, url, SoftwareAuthenticator(), **answer)
        assert "was not a passkey for this portal" in page(response)
    assert not PasskeyDevice.objects.exists()


def test_a_challenge_is_used_once(member, member_client):
    url = add_url(member, member, "passkey")
    options = options_in(page(member_client.get(url)), "passkey-options")
    answer = SoftwareAuthenticator().create(options)
    assert member_client.post(url, {"description": "One", "credential": answer}).status_code == 302

    again = member_client.post(url, {"description": "Two", "credential": answer})

    assert again.status_code == 400
    assert "timed out or was already used" in page(again)
    assert PasskeyDevice.objects.count() == 1


def test_an_expired_challenge_is_refused(member, member_client, time_machine):
    url = add_url(member, member, "passkey")
    time_machine.move_to("2026-12-03 10:00:00Z", tick=False)
    options = options_in(page(member_client.get(url)), "passkey-options")
    time_machine.move_to("2026-12-03 10:05:01Z", tick=False)

    response = member_client.post(url, {"description": "Late", "credential": SoftwareAuthenticator().create(options)})

    assert "timed out or was already used" in page(response)
    assert not PasskeyDevice.objects.exists()


def test_the_same_passkey_cannot_be_registered_twice(member, owner):
    _, key = enrolled_passkey(member)

    response = enrol(log_in(Client(), owner), add_url(owner, owner, "passkey"), key)

    assert "This passkey is already registered." in page(response)
    assert PasskeyDevice.objects.count() == 1


# --- Login ------------------------------------------------------------------------------------


def test_logging_in_with_a_passkey(member):
    token, key = enrolled_passkey(member)
    client, options = at_code_step(member)
    assert options["rpId"] == "testserver" and options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [token.device.credential_id]

    response = client.post("/login/code/", {"passkey": key.get(options)})

    assert response.status_code == 302 and response.url == "/"
    assert logged_in(client)
    device = PasskeyDevice.objects.get()
    assert device.sign_count == 1 and device.last_used_at is not None
    event = AuditEvent.objects.filter(action="login.second_factor").latest("pk")
    assert event.actor == member and event.target_label == f"Passkey #{token.pk}"
    assert "Use a passkey" not in page(Client().get("/login/code/"))


def test_a_replayed_assertion_is_refused(member):
    _, key = enrolled_passkey(member)
    client, options = at_code_step(member)
    answer = key.get(options)
    assert client.post("/login/code/", {"passkey": answer}).status_code == 302

    other, _ = at_code_step(member)
    response = other.post("/login/code/", {"passkey": answer})

    assert response.status_code == 400 and NOT_ACCEPTED in page(response)
    assert not logged_in(other)
    assert PasskeyDevice.objects.get().throttling_failure_count == 1


def test_an_assertion_relayed_from_a_phishing_page_is_refused(member):
    _, key = enrolled_passkey(member)
    client, options = at_code_step(member)

    response = client.post("/login/code/", {"passkey": key.get(options, origin="https://portal-login.example")})

    assert NOT_ACCEPTED in page(response) and not logged_in(client)
    assert AuditEvent.objects.filter(action="login.second_factor_failed", actor=member).exists()


def test_a_signature_counter_that_goes_back_is_refused_as_a_possible_clone(member):
    token, key = enrolled_passkey(member)
    client, options = at_code_step(member)
    key.sign_count = 41
    assert client.post("/login/code/", {"passkey": key.get(options)}).status_code == 302  # counter 42

    clone, options = at_code_step(member)
    response = clone.post("/login/code/", {"passkey": key.get(options, sign_count=42)})

    assert response.status_code == 400
    assert "its signature counter went back" in page(response)
    assert not logged_in(clone)
    event = AuditEvent.objects.get(action="token.clone_suspected")
    assert event.subject_user == member and event.target_label == f"Passkey #{token.pk}"
    assert event.details["reason"] == "signature counter 42, last seen 42"
    assert PasskeyDevice.objects.get().sign_count == 42


def test_a_possible_clone_is_emailed_to_the_passkeys_owner_and_the_admins(
    member, owner, django_capture_on_commit_callbacks
):
    _, key = enrolled_passkey(member)
    client, options = at_code_step(member)
    key.sign_count = 41
    client.post("/login/code/", {"passkey": key.get(options)})
    mail.outbox.clear()

    clone, options = at_code_step(member)
    with django_capture_on_commit_callbacks(execute=True):
        clone.post("/login/code/", {"passkey": key.get(options, sign_count=42)})

    by_address = {message.to[0]: message for message in mail.outbox}
    assert sorted(by_address) == sorted([member.email, owner.email])
    assert all(m.subject == "A passkey was refused as a possible copy" for m in mail.outbox)
    assert "Your passkey" in by_address[member.email].body
    assert "/tokens/" in by_address[member.email].body
    assert f"of {member.full_name} ({member.email})" in by_address[owner.email].body
    assert f"/users/{member.pk}/" in by_address[owner.email].body


def test_a_wrong_passkey_answer_is_no_clone_and_emails_nobody(member, owner, django_capture_on_commit_callbacks):
    enrolled_passkey(member)
    client, options = at_code_step(member)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/login/code/", {"passkey": SoftwareAuthenticator().get(options)})

    assert mail.outbox == []


def test_passkeys_that_never_count_stay_usable(member):
    _, key = enrolled_passkey(member)
    for _ in range(2):
        client, options = at_code_step(member)
        assert client.post("/login/code/", {"passkey": key.get(options, sign_count=0)}).status_code == 302


def test_a_signature_by_another_key_is_a_wrong_answer(member):
    _, key = enrolled_passkey(member)
    client, options = at_code_step(member)

    forged = key.get(options, signing_key=ec.generate_private_key(ec.SECP256R1()))
    response = client.post("/login/code/", {"passkey": forged})

    assert NOT_ACCEPTED in page(response) and not logged_in(client)
    assert PasskeyDevice.objects.get().throttling_failure_count == 1


def test_a_disabled_passkey_is_not_offered_and_is_refused(member, owner):
    token, key = enrolled_passkey(member)
    client, options = at_code_step(member)
    services.set_enabled(token=token, enabled=False, acting_user=owner)

    response = client.post("/login/code/", {"passkey": key.get(options)})

    assert "This token is disabled." in page(response) and not logged_in(client)
    shown = page(client.get("/login/code/"))
    assert "Your passkey “Blue key” cannot be used: This token is disabled." in shown
    assert "Use a passkey" not in shown
    assert 'id="passkey-login-options"' not in page(response)
    assert AuditEvent.objects.filter(action="login.refused_token").exists()


def test_another_users_passkey_does_not_log_in(member, owner):
    _, members_key = enrolled_passkey(member)
    enrolled_passkey(owner)
    client, options = at_code_step(owner)

    response = client.post("/login/code/", {"passkey": members_key.get(options)})

    assert NOT_ACCEPTED in page(response) and not logged_in(client)


def test_an_empty_or_malformed_answer_is_refused_with_a_message(member):
    enrolled_passkey(member)
    client, _ = at_code_step(member)
    assert "The browser gave no passkey." in page(client.post("/login/code/", {"passkey": ""}))
    assert NOT_ACCEPTED in page(client.post("/login/code/", {"passkey": "{not json"}))
    # Counted as a wrong answer: django-otp's back-off then refuses the next one unchecked.
    again = page(client.post("/login/code/", {"passkey": json.dumps({"rawId": "%%%"})}))
    assert "The last code was not right. Wait 1 second" in again
    assert PasskeyDevice.objects.get().throttling_failure_count == 1
    assert not logged_in(client)


def test_a_passkey_locks_after_repeated_failures_and_an_admin_unlocks_it(member, owner, settings, time_machine):
    settings.TOKEN_LOCK_AFTER_FAILURES = 3
    token, key = enrolled_passkey(member)
    time_machine.move_to("2026-12-03 10:00:00Z", tick=False)
    for minute in range(3):
        time_machine.move_to(f"2026-12-03 10:{minute:02d}:00Z", tick=False)  # past django-otp's back-off
        client, options = at_code_step(member)
        client.post("/login/code/", {"passkey": key.get(options, origin="https://elsewhere.example")})
    assert Token.objects.get(pk=token.pk).is_locked
    assert AuditEvent.objects.filter(action="token.locked").exists()

    time_machine.move_to("2026-12-03 11:00:00Z", tick=False)
    client = past_password(member)
    shown = page(client.get("/login/code/"))
    assert "Use a passkey" not in shown  # a locked passkey is not offered, and the page says why ...
    assert "Your passkey “Blue key” cannot be used: This token is locked after too many wrong codes." in shown
    options = {"challenge": b64url(b"guessed"), "rpId": "testserver"}
    response = client.post("/login/code/", {"passkey": key.get(options)})  # ... nor checked
    assert "locked after too many wrong codes" in page(response)

    services.unlock(token=Token.objects.get(pk=token.pk), acting_user=owner)
    client, options = at_code_step(member)
    assert client.post("/login/code/", {"passkey": key.get(options)}).status_code == 302


# --- Lifecycle and isolation ------------------------------------------------------------------


def test_disable_enable_and_delete_a_passkey(member, owner_client):
    token, _ = enrolled_passkey(member)
    assert owner_client.post(f"/tokens/{token.pk}/disable/").status_code == 302
    assert Token.objects.get(pk=token.pk).status == "disabled"
    assert owner_client.post(f"/tokens/{token.pk}/enable/").status_code == 302
    assert Token.objects.get(pk=token.pk).status == "active"

    assert owner_client.post(f"/tokens/{token.pk}/delete/").status_code == 302

    assert not Token.objects.filter(pk=token.pk).exists() and not PasskeyDevice.objects.exists()
    actions = list(AuditEvent.objects.filter(subject_user=member).values_list("action", flat=True))
    assert {"token.disabled", "token.enabled", "token.deleted"} <= set(actions)


def test_another_organisations_admin_cannot_see_or_manage_a_passkey(member, outsider):
    token, _ = enrolled_passkey(member)
    client = log_in(Client(), outsider)  # an admin of another organisation

    for url in [f"/tokens/{token.pk}/", f"/tokens/{token.pk}/edit/", f"/tokens/{token.pk}/disable/"]:
        assert client.get(url).status_code == 404
    for url in [f"/tokens/{token.pk}/disable/", f"/tokens/{token.pk}/delete/", f"/tokens/{token.pk}/enable/"]:
        assert client.post(url).status_code == 404
    assert client.get(f"/users/{member.pk}/tokens/add/passkey/").status_code == 404
    assert client.get(f"/users/{member.pk}/tokens/").status_code == 404
    assert Token.objects.get(pk=token.pk).enabled


# --- Recorded from a real browser -------------------------------------------------------------

RECORDED = json.loads((Path(__file__).parent / "recorded_passkey_chromium.json").read_text())


def recorded_challenge(answer: dict) -> bytes:
    client_data = json.loads(from_b64url(answer["response"]["clientDataJSON"]))
    return from_b64url(client_data["challenge"])


def test_a_registration_and_assertion_recorded_from_chromium_verify(member, settings):
    """Chromium's own answers (its virtual authenticator, an Ed25519 key, through static/js/passkeys.js),
    recorded once with their origin and checked here against the challenges they signed."""
    settings.PORTAL_BASE_URL = RECORDED["origin"]
    registration, assertion = RECORDED["registration"], RECORDED["assertion"]

    token = services.enrol_passkey(
        user=member,
        credential=json.dumps(registration),
        challenge=recorded_challenge(registration),
        description="Recorded key",
        acting_user=member,
    )
    assert token.device.credential_id == registration["rawId"] and token.device.transports == ["usb"]

    wrong = services.verify_login_passkey(
        user=member, credential=json.dumps(assertion), challenge=b"another challenge, not the one signed"
    )
    assert wrong.token is None and wrong.error.startswith(NOT_ACCEPTED)
    PasskeyDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)

    result = services.verify_login_passkey(
        user=member, credential=json.dumps(assertion), challenge=recorded_challenge(assertion)
    )
    assert result.token == token
    assert PasskeyDevice.objects.get().sign_count == RECORDED["sign_count_after"]

    replayed = services.verify_login_passkey(
        user=member, credential=json.dumps(assertion), challenge=recorded_challenge(assertion)
    )
    assert replayed.token is None and "signature counter went back" in replayed.error


def test_the_recorded_registration_is_refused_for_another_portal_address(member, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    registration = RECORDED["registration"]
    with pytest.raises(services.TokenError, match="not a passkey for this portal"):
        services.enrol_passkey(
            user=member,
            credential=json.dumps(registration),
            challenge=recorded_challenge(registration),
            acting_user=member,
        )
    assert not PasskeyDevice.objects.exists()


def test_wrong_typed_codes_are_no_guess_at_a_passkey(member, member_client):
    token, _ = enrolled_passkey(member)
    client = past_password(member)

    client.post("/login/code/", {"code": "000000"})

    assert PasskeyDevice.objects.get().throttling_failure_count == 0
    assert member_client.get(f"/tokens/{token.pk}/test/").status_code == 404


def test_account_set_up_offers_a_passkey_instead_of_the_authenticator_app(organisation, mailoutbox):
    newcomer = UserFactory(organisation=organisation, email="pat@acme.example", onboarded_at=None)
    client = Client()
    assert submit_password(client, newcomer.email, PASSWORD).url == "/"
    setup = page(client.get("/setup/authenticator/"))
    assert "Or use a passkey instead" in setup

    key = SoftwareAuthenticator()
    answer = key.create(options_in(setup, "passkey-options"))
    refused = client.post("/setup/authenticator/", {"description": "", "credential": answer})
    assert refused.status_code == 400 and "Enter a name for the passkey." in page(refused)
    assert not Token.objects.filter(user=newcomer).exists()

    answer = key.create(options_in(page(refused), "passkey-options"))
    response = client.post("/setup/authenticator/", {"description": "Laptop", "credential": answer})

    assert response.status_code == 302 and response.url == "/setup/phone/"
    token = Token.objects.get(user=newcomer)
    assert token.kind == TokenKind.PASSKEY and token.description == "Laptop"
    assert client.get("/setup/phone/").status_code == 200  # the session passed its second factor
    assert not newcomer.totpdevice_set.filter(confirmed=True).exists()


def test_the_login_page_asks_the_same_number_of_queries_for_one_passkey_or_many(member):
    def queries_for_code_page() -> int:
        client = past_password(member)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/login/code/").status_code == 200
        return len(queries)

    enrolled_passkey(member)
    one = queries_for_code_page()
    for _ in range(3):
        enrolled_passkey(member, SoftwareAuthenticator())
    assert (
        len(options_in(page(past_password(member).get("/login/code/")), "passkey-login-options")["allowCredentials"])
        == 4
    )
    assert queries_for_code_page() == one
