"""Unlocking a token locked after too many wrong codes: admins only."""

from django.test import Client
from django_otp.plugins.otp_hotp.models import HOTPDevice

from tests.tokens.helpers import (
    actions_since,
    audit_mark,
    fresh,
    lock,
    page,
    press,
    start_login,
    submit_code,
)


def test_admin_unlocks_a_locked_token(owner, owner_client, member, hardware):
    lock(hardware)
    text = page(owner_client.get(f"/tokens/{hardware.pk}/"))
    assert "LOCKED" in text and f'action="/tokens/{hardware.pk}/unlock/"' in text
    mark = audit_mark()

    response = owner_client.post(f"/tokens/{hardware.pk}/unlock/", follow=True)

    assert "The token is unlocked." in page(response)
    assert "LOCKED" not in page(response)
    assert HOTPDevice.objects.get(pk=hardware.device_id).throttling_failure_count == 0
    assert actions_since(mark) == [("token.unlocked", owner.email)]
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(1)).status_code == 302


def test_member_cannot_unlock_their_own_token(member_client, member, hardware):
    lock(hardware)
    assert "/unlock/" not in page(member_client.get(f"/tokens/{hardware.pk}/"))

    response = member_client.post(f"/tokens/{hardware.pk}/unlock/")

    assert response.status_code == 403
    assert fresh(hardware).is_locked
    tested = member_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})
    assert "This token is locked after too many wrong codes." in page(tested)
    assert "Success" not in page(tested)
