"""`seed_demo` runs on every `make run`: the second run keeps what people did since the first
(issue 19). Spent backup codes stay spent and are no longer printed, codes and tokens someone made
or removed stay so, and changes to people, permissions, the whitelist, the organisation and the
Resources page stay as they were made. Only what time brings is added (a new month's invoice).
"""

import re
from base64 import b32decode
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services as accounts
from accounts.models import Organisation, User
from billing.models import Invoice
from demo.management.commands.seed_demo import DEMO_PASSWORD
from support.models import ResourceLink
from tokens.models import Token, TokenKind
from whitelist.models import WhitelistEntry

pytestmark = pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault

# Everything a person can change through the portal or the admin that the seed once created.
KEPT = [User, Organisation, Token, TOTPDevice, StaticDevice, StaticToken, WhitelistEntry, ResourceLink, Invoice]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def printed_for(output: str, email: str) -> str:
    """The lines the seed printed about one login (up to the next login)."""
    start = output.index(f"  {email} ")
    following = re.search(r"\n  \S+@", output[start + 3 :])
    return output[start : start + 3 + following.start()] if following else output[start:]


def backup_codes_in(lines: str) -> list[str]:
    found = re.search(r"backup codes: ((?:[0-9a-f]{8} ?)+)", lines)
    return found.group(1).split() if found else []


def authenticator_key_in(lines: str) -> str:
    found = re.search(r"authenticator key ([A-Z2-7]+)", lines)
    assert found is not None, lines
    return found.group(1)


def log_in(email: str, code: str) -> Client:
    """Password, then a code at /login/code/, as a person does; the session is logged in."""
    client = Client()
    assert client.post("/login/", {"username": email, "password": DEMO_PASSWORD})["Location"] == "/login/code/"
    response = client.post("/login/code/", {"code": code})
    assert (response.status_code, response.get("Location")) == (302, "/"), email
    return client


def authenticator_code(lines: str) -> str:
    return str(TOTP(b32decode(authenticator_key_in(lines))).token()).zfill(6)


def database_state() -> dict[str, list[dict[str, object]]]:
    state = {model.__name__: list(model._default_manager.order_by("pk").values()) for model in KEPT}
    state["permissions"] = list(User.user_permissions.through.objects.order_by("pk").values())
    state["groups"] = list(User.groups.through.objects.order_by("pk").values())
    return state


def test_a_second_run_keeps_everything_people_did_since_the_first():
    first = seed()
    alice_codes = backup_codes_in(printed_for(first, "alice@acme.example"))
    bob_lines = printed_for(first, "bob@acme.example")
    assert len(alice_codes) == 5

    # What people did between two `make run`s.
    alice = log_in("alice@acme.example", alice_codes[2])  # a backup code, now spent
    bob = log_in("bob@acme.example", authenticator_code(bob_lines))
    made = bob.post("/tokens/add/backup/", follow=True)  # bob makes new backup codes
    bob_new_codes = re.findall(r"<li>([0-9a-f]{8})</li>", made.content.decode())
    assert len(bob_new_codes) == 10
    bob_user = User.objects.get(email="bob@acme.example")
    bob_authenticator = Token.objects.get(user=bob_user, kind=TokenKind.TOTP)
    assert alice.post(f"/tokens/{bob_authenticator.pk}/delete/").status_code == 302  # alice removes it
    assert alice.post(f"/users/{bob_user.pk}/", {"role": "user", "permissions": []}).status_code == 302
    carol = User.objects.get(email="carol@acme.example")
    assert alice.post(f"/users/{carol.pk}/deactivate/").status_code == 302
    entry = WhitelistEntry.objects.order_by("pk").first()
    assert entry is not None
    assert alice.post(f"/whitelist/{entry.pk}/remove/").status_code == 302
    support = User.objects.get(email="support@portal.example")
    organisation = Organisation.objects.get(name="Acme Payments Ltd")
    accounts.update_company_details(organisation=organisation, acting_user=support, name="Acme Payments Group")
    ResourceLink.objects.order_by("pk").first().delete()  # support tidies the Resources page in the admin
    before = database_state()

    second = seed()

    assert database_state() == before
    assert Organisation.objects.count() == 1
    # The printout tells the logins as they now stand.
    assert "Demo organisation: Acme Payments Group" in second
    assert "Loaded before, and kept as people left it" in second
    alice_lines = printed_for(second, "alice@acme.example")
    assert backup_codes_in(alice_lines) == alice_codes[:2] + alice_codes[3:]
    assert authenticator_key_in(alice_lines) == authenticator_key_in(printed_for(first, "alice@acme.example"))
    bob_lines = printed_for(second, "bob@acme.example")
    assert "the demo authenticator key was replaced or removed" in bob_lines
    assert "no demo backup code left" in bob_lines and not backup_codes_in(bob_lines)
    assert printed_for(second, "carol@acme.example").strip() == "carol@acme.example         deactivated"
    assert "temporary password" not in second
    # The spent code still does not log in; bob's own new codes do.
    refused = Client()
    refused.post("/login/", {"username": "alice@acme.example", "password": DEMO_PASSWORD})
    assert refused.post("/login/code/", {"code": alice_codes[2]}).status_code == 400
    log_in("bob@acme.example", bob_new_codes[0])


def test_a_second_run_gives_carol_a_new_temporary_password_while_she_has_not_set_up(client):
    """The one thing a rerun renews on purpose: she cannot have used a password nobody can read."""
    first = re.search(r"carol@acme\.example\s+not set up yet: temporary password (\S+)", seed())
    second = re.search(r"carol@acme\.example\s+not set up yet: temporary password (\S+)", seed())

    assert first and second and first.group(1) != second.group(1)
    response = client.post("/login/", {"username": "carol@acme.example", "password": second.group(1)})
    assert response.status_code == 302


def test_a_removed_demo_user_is_not_brought_back():
    seed()
    alice = User.objects.get(email="alice@acme.example")
    accounts.remove_user(user=User.objects.get(email="bob@acme.example"), acting_user=alice)

    output = seed()

    assert not User.objects.filter(email="bob@acme.example").exists()
    assert "bob@acme.example           removed since the demo was loaded" in output
