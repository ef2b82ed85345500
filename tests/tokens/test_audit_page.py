"""Token actions on the organisation's audit page, and support's names for the types.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import re

from django.test import Client

from audit.models import AuditEvent
from tests.conftest import log_in
from tests.tokens.helpers import (
    add_hardware,
    page,
)
from tokens.models import TokenKind, TokenType


def test_audit_page_lists_token_actions_for_the_admin(owner, owner_client, member, hardware):
    member_side = log_in(Client(), member)
    owner_client.post(f"/tokens/{hardware.pk}/disable/")
    member_side.post(f"/tokens/{hardware.pk}/edit/", {"description": "Mine"})
    owner_client.post(f"/tokens/{hardware.pk}/delete/")

    response = owner_client.get("/audit/")

    assert response.status_code == 200
    # Who, what (in words), on which token, whose token.
    rows = [
        tuple(
            " ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        )[1:5]
        for row in re.findall(r"<tr>(.*?)</tr>", page(response), re.S)
        if "<td" in row
    ]
    label = f"Hardware token #{hardware.pk} (HW-0001)"
    assert rows[:3] == [
        (owner.email, "Token deleted", label, member.email),
        (member.email, "Token description changed", label, member.email),
        (owner.email, "Token disabled", label, member.email),
    ]
    assert ("owner@acme.example", "Token enrolled", label, member.email) in rows
    assert "127.0.0.1" in page(response)


def test_audit_page_is_forbidden_to_members(member_client):
    response = member_client.get("/audit/")

    assert response.status_code == 403


def test_audit_page_never_shows_another_organisations_events(owner_client, outsider):
    outsiders = log_in(Client(), outsider)
    outsider_token = add_hardware(outsider, serial="GLOBEX-HW")
    outsiders.post(f"/tokens/{outsider_token.pk}/disable/")
    assert AuditEvent.objects.filter(actor=outsider, action="token.disabled").exists()

    text = page(owner_client.get("/audit/"))

    assert "outsider@globex.example" not in text
    assert "GLOBEX-HW" not in text
    assert "token.disabled" not in text


def test_the_label_support_gives_a_type_is_used_on_the_delete_page_and_in_emails(
    actor_client, member, owner, mailoutbox, django_capture_on_commit_callbacks
):
    TokenType.objects.filter(kind=TokenKind.HOTP).update(display_name="YubiKey")

    with django_capture_on_commit_callbacks(execute=True):
        token = add_hardware(member, acting_user=owner, description="Desk key")

    assert "A new second factor (YubiKey) was added" in mailoutbox[-1].body
    assert "Delete YubiKey “Desk key”?" in page(actor_client.get(f"/tokens/{token.pk}/delete/"))
