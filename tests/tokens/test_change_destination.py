"""Changing a text-message token's number or an email token's address: the new one is used only
once the code sent to it comes back.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import re

import pytest
from django.test import Client

from accounts.reauth import SESSION_KEY as REAUTH_KEY
from tests.tokens.helpers import (
    NEW_NUMBER,
    OLD_NUMBER,
    actions_since,
    add_email,
    audit_mark,
    fresh,
    page,
    snapshot,
    start_login,
    submit_code,
)
from tokens.models import SmsDevice


def test_new_number_is_used_only_after_its_code_comes_back(
    actor, actor_client, member, sms, capsys, django_capture_on_commit_callbacks
):
    old_device_id = sms.device_id
    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": NEW_NUMBER, "description": ""}, follow=True)
    assert response.redirect_chain == [(f"/tokens/{sms.pk}/edit/", 302)]
    assert "We sent a code to the new destination" in page(response)
    assert f"[SMS to {NEW_NUMBER}]" in capsys.readouterr().out
    pending = SmsDevice.objects.get(user=member, confirmed=False)
    assert str(pending.number) == NEW_NUMBER

    # Until confirmed, the token still texts the old number, and the new number's code logs nobody in.
    assert fresh(sms).device_id == old_device_id
    assert "+44 7400 123456" in page(actor_client.get(f"/tokens/{sms.pk}/"))
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, pending.token).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        visitor.post("/login/code/", {"send": str(sms.pk)})
    sent = capsys.readouterr().out
    assert f"[SMS to {OLD_NUMBER}]" in sent and NEW_NUMBER not in sent

    mark = audit_mark()
    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"code": pending.token}, follow=True)

    assert response.redirect_chain == [(f"/tokens/{sms.pk}/", 302)]
    assert "Confirmed: codes now go to the new destination." in page(response)
    assert "+44 7400 654321" in page(response)
    token = fresh(sms)
    assert token.device_id == pending.pk and str(token.device.number) == NEW_NUMBER
    assert not SmsDevice.objects.filter(pk=old_device_id).exists()
    assert actions_since(mark) == [("token.changed", actor.email)]


def test_wrong_code_for_a_new_number_keeps_the_old_one(actor_client, member, sms):
    actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": NEW_NUMBER, "description": ""})
    pending = SmsDevice.objects.get(user=member, confirmed=False)
    wrong = next(c for c in ("000000", "111111", "222222") if c != pending.token)

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"code": wrong})

    assert response.status_code == 400
    assert "That code is not right, or it has expired." in page(response)
    assert str(fresh(sms).device.number) == OLD_NUMBER


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("+448001234567", "toll-free"),
        ("12", "This phone number is not valid"),
        ("", "This field is required."),
    ],
    ids=["toll-free", "invalid", "empty"],
)
def test_unusable_new_number_is_refused_with_a_reason(actor_client, member, sms, number, message):
    before = snapshot()

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": number, "description": ""})

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before


def test_code_sent_with_no_new_number_waiting_gets_a_message(actor_client, member, sms):
    before = snapshot()

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"code": "123456"})

    assert response.status_code == 400
    assert "No new number is waiting to be confirmed" in page(response)
    assert snapshot() == before


def test_new_email_address_is_confirmed_before_use(
    actor, actor_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    token = add_email(member, "max.codes@acme.example")
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(f"/tokens/{token.pk}/edit/", {"email": "max.new@acme.example", "description": ""})
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["max.new@acme.example"]]
    assert fresh(token).device.email == "max.codes@acme.example"
    code = re.search(r"security code is (\d+)", mailoutbox[0].body)
    assert code is not None

    response = actor_client.post(f"/tokens/{token.pk}/edit/", {"code": code.group(1)})

    assert response.status_code == 302
    assert fresh(token).device.email == "max.new@acme.example"


def test_changing_a_number_asks_for_the_password_again(actor, actor_client, member, sms):
    session = actor_client.session
    del session[REAUTH_KEY]
    session.save()

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": NEW_NUMBER, "description": ""})

    assert response.status_code == 302
    assert response.url == f"/reauthenticate/?next=%2Ftokens%2F{sms.pk}%2Fedit%2F"
    assert not SmsDevice.objects.filter(user=member, confirmed=False).exists()
