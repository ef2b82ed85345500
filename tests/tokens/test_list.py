"""The token list: a user's own tokens, or an admin's view of a member's.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.tokens.helpers import (
    NEW_NUMBER,
    add_email,
    add_hardware,
    add_sms,
    add_totp,
    list_url,
    page,
)
from tokens import services
from tokens.models import Token, TokenKind, TokenType


def test_list_shows_each_token_with_its_type_status_description_device_and_expiry(actor, actor_client, member):
    add_hardware(member, serial="HW-LIST-1", description="Desk token", expires_at=timezone.now() + timedelta(days=30))
    add_sms(member)
    disabled = add_totp(member, description="Old phone")
    services.set_enabled(token=disabled, enabled=False, acting_user=member)

    response = actor_client.get(list_url(actor, member))

    assert response.status_code == 200
    text = page(response)
    assert "Hardware token" in text and "Text message (SMS)" in text and "Authenticator app" in text
    assert "HW-LIST-1" in text and "Desk token" in text
    assert "+44 7400 123456" in text
    assert "Old phone" in text
    assert text.count("ACTIVE") == 3 and text.count("DISABLED") == 1
    assert f"{(timezone.localtime() + timedelta(days=30)):%-d %b %Y}" in text
    for token in Token.objects.filter(user=member):
        assert f'href="/tokens/{token.pk}/"' in text


def test_list_shows_the_type_names_support_chose(actor, actor_client, member, hardware):
    TokenType.objects.update_or_create(kind=TokenKind.HOTP, defaults={"display_name": "Key fob"})

    text = page(actor_client.get(list_url(actor, member)))

    assert "Key fob" in text
    assert "Hardware token" not in text


def test_list_shows_only_that_users_tokens(owner, member, owner_client):
    add_hardware(owner, serial="OWNERS-OWN")
    add_hardware(member, serial="MEMBERS-OWN")

    own = page(owner_client.get("/tokens/"))
    members = page(owner_client.get(f"/users/{member.pk}/tokens/"))

    assert "OWNERS-OWN" in own and "MEMBERS-OWN" not in own
    assert "MEMBERS-OWN" in members and "OWNERS-OWN" not in members


def test_list_of_a_user_without_tokens_says_so(owner_client, member):
    Token.objects.filter(user=member).delete()

    response = owner_client.get(f"/users/{member.pk}/tokens/")

    assert response.status_code == 200
    assert "No tokens" in page(response)


def _list_queries(client: Client, url: str) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return queries


def test_list_issues_the_same_number_of_queries_for_two_and_eight_tokens(actor, actor_client, member):
    url = list_url(actor, member)
    add_hardware(member, serial="HW-Q-0")
    actor_client.get(url)  # warm up: session and per-process caches
    assert Token.objects.filter(user=member).count() == 2
    two = _list_queries(actor_client, url)

    for n in range(1, 4):
        add_hardware(member, serial=f"HW-Q-{n}")
        add_totp(member)
    assert Token.objects.filter(user=member).count() == 8
    eight = _list_queries(actor_client, url)

    assert len(eight) == len(two), "\n".join(q["sql"] for q in eight.captured_queries)


def test_list_of_every_kind_issues_the_same_number_of_queries_when_tokens_double(actor, actor_client, member):
    url = list_url(actor, member)
    add_hardware(member, serial="HW-K-0")
    add_sms(member)
    add_email(member, "max.codes@acme.example")
    services.generate_backup_codes(user=member, acting_user=member)
    actor_client.get(url)
    five = _list_queries(actor_client, url)

    add_hardware(member, serial="HW-K-1")
    add_sms(member, NEW_NUMBER)
    add_email(member, "max.more@acme.example")
    add_totp(member)
    assert Token.objects.filter(user=member).count() == 9
    nine = _list_queries(actor_client, url)

    assert len(nine) == len(five), "\n".join(q["sql"] for q in nine.captured_queries)
