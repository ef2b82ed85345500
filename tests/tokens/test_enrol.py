"""What every enrolment does: the password is asked again first, and the holder is emailed;
an unknown kind is 404.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import pytest

from accounts.reauth import SESSION_KEY as REAUTH_KEY
from tests.factories import PASSWORD
from tests.tokens.helpers import (
    KINDS,
    NEW_FACTOR_SUBJECT,
    add_url,
    hardware_form,
    page,
    snapshot,
)


def test_holder_is_emailed_when_an_admin_adds_a_factor(
    owner, owner_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/users/{member.pk}/tokens/add/hotp/", hardware_form())
    assert response.status_code == 302

    assert [(m.subject, m.to) for m in mailoutbox] == [(NEW_FACTOR_SUBJECT, [member.email])]
    body = mailoutbox[0].body
    assert "(Hardware token)" in body and owner.full_name in body and owner.email in body


def test_user_is_emailed_when_they_add_a_factor_themselves(
    member_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post("/tokens/add/hotp/", hardware_form())

    assert [(m.subject, m.to) for m in mailoutbox] == [(NEW_FACTOR_SUBJECT, [member.email])]
    assert "by you" in mailoutbox[0].body


@pytest.mark.parametrize("kind", KINDS)
def test_enrolment_without_a_recent_password_asks_for_it_then_returns(actor, actor_client, member, kind):
    session = actor_client.session
    del session[REAUTH_KEY]
    session.save()
    url = add_url(actor, member, kind)
    before = snapshot()

    for method in ("get", "post"):
        response = getattr(actor_client, method)(url)
        assert response.status_code == 302
        assert response.url == "/reauthenticate/?next=" + url.replace("/", "%2F")
    assert snapshot() == before

    wrong = actor_client.post(response.url, {"password": "not-my-password"})
    assert wrong.status_code == 400
    assert "That is not your password." in page(wrong)
    assert actor_client.get(url).status_code == 302

    right = actor_client.post(response.url, {"password": PASSWORD})
    assert right.status_code == 302 and right.url == url
    assert actor_client.get(url).status_code == 200


def test_reauthentication_is_with_the_acting_admins_password(owner_client, owner, member):
    member.set_password("members-own-password-1")
    member.save()
    session = owner_client.session
    del session[REAUTH_KEY]
    session.save()
    target = f"/reauthenticate/?next=/users/{member.pk}/tokens/add/totp/"

    assert owner_client.post(target, {"password": "members-own-password-1"}).status_code == 400
    assert owner_client.post(target, {"password": PASSWORD}).status_code == 302
