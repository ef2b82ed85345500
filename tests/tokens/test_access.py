"""Who may see and do what on token pages: the holder and their organisation's admins; a member
not on an admin's tokens, another organisation never.
"""

import pytest
from django.test import Client

from tests.tokens.helpers import (
    ANY_POST,
    KINDS,
    actions_since,
    add_hardware,
    add_sms,
    audit_mark,
    page,
    snapshot,
    token_urls,
    totp_token,
)
from tokens.models import Token


@pytest.fixture
def owners_tokens(owner) -> list[Token]:
    return [totp_token(owner), add_hardware(owner, serial="HW-OWNER"), add_sms(owner)]


@pytest.mark.parametrize("method", ["get", "post"])
def test_member_is_forbidden_the_admins_token_pages(member_client, owner, member, owners_tokens, method):
    before = snapshot()
    mark = audit_mark()
    send = getattr(member_client, method)

    for url in [f"/users/{owner.pk}/tokens/", *(f"/users/{owner.pk}/tokens/add/{kind}/" for kind in KINDS)]:
        assert send(url, ANY_POST if method == "post" else None).status_code == 403, url
    for token in owners_tokens:
        for url in token_urls(token):
            assert send(url, ANY_POST if method == "post" else None).status_code == 404, url

    assert snapshot() == before
    assert actions_since(mark) == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_for_every_token_url_of_another_organisation(
    outsider_client, owner, member, owners_tokens, hardware, sms, method, mailoutbox, django_capture_on_commit_callbacks
):
    tokens = [*owners_tokens, hardware, sms, totp_token(member)]
    before = snapshot()
    mark = audit_mark()
    send = getattr(outsider_client, method)

    with django_capture_on_commit_callbacks(execute=True):
        for person in (owner, member):
            urls = [f"/users/{person.pk}/tokens/", *(f"/users/{person.pk}/tokens/add/{kind}/" for kind in KINDS)]
            for url in urls:
                assert send(url, ANY_POST if method == "post" else None).status_code == 404, url
        for token in tokens:
            for url in token_urls(token):
                response = send(url, ANY_POST if method == "post" else None)
                assert response.status_code == 404, url
                assert "HW-OWNER" not in page(response) and "Max Member" not in page(response)

    assert snapshot() == before
    assert actions_since(mark) == []
    assert mailoutbox == []


def test_anonymous_visitor_is_sent_to_login(owner, member, hardware):
    anonymous = Client()
    urls = [
        "/tokens/",
        *(f"/tokens/add/{kind}/" for kind in KINDS),
        f"/users/{member.pk}/tokens/",
        *(f"/users/{member.pk}/tokens/add/{kind}/" for kind in KINDS),
        *token_urls(hardware),
    ]
    before = snapshot()

    for method in ("get", "post"):
        for url in urls:
            response = getattr(anonymous, method)(url, ANY_POST if method == "post" else None)
            assert response.status_code == 302, url
            assert response.url.startswith("/login/?next="), url

    assert snapshot() == before
