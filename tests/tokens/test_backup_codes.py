"""Generating backup codes: made by a POST, shown once, replacing any earlier set.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import html
import re
from urllib.parse import unquote

from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from tests.tokens.helpers import (
    add_url,
    list_url,
    page,
    start_login,
    submit_code,
)
from tokens.models import Token, TokenKind


def _new_backup_codes(client: Client, url: str) -> list[str]:
    """POST for new codes, follow the redirect to the one-time page, read the codes off it."""
    response = client.post(url, follow=True)
    assert response.redirect_chain == [("/tokens/backup-codes/", 302)]
    return re.findall(r"<li>([0-9a-f]{8})</li>", page(response))


def test_backup_codes_are_generated_only_by_a_post_and_shown_once(actor, actor_client, member):
    url = add_url(actor, member, "backup")

    response = actor_client.get(url)
    assert response.status_code == 200
    assert "Generate codes" in page(response)
    assert not StaticDevice.objects.filter(user=member).exists()

    response = actor_client.post(url)

    assert response.status_code == 302
    assert response["Location"] == "/tokens/backup-codes/"
    shown = actor_client.get("/tokens/backup-codes/")
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    codes = re.findall(r"<li>([0-9a-f]{8})</li>", page(shown))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "this page shows them once" in page(shown)
    assert Token.objects.filter(user=member, kind=TokenKind.BACKUP).count() == 1
    for again in (actor_client.get(url), actor_client.get(list_url(actor, member))):
        assert not any(code in page(again) for code in codes)

    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, codes[3]).status_code == 302
    second = Client()
    start_login(second, member)
    assert submit_code(second, codes[3]).status_code == 400, "a backup code worked twice"


def test_reloading_the_backup_codes_page_says_already_shown_and_keeps_the_codes(actor, actor_client, member):
    codes = _new_backup_codes(actor_client, add_url(actor, member, "backup"))
    digests = sorted(StaticToken.objects.filter(device__user=member).values_list("token", flat=True))

    reloaded = actor_client.get("/tokens/backup-codes/")

    assert reloaded.status_code == 200
    text = page(reloaded)
    assert "These backup codes were already shown" in text
    assert not any(code in text for code in codes)
    assert f'href="{add_url(actor, member, "backup")}"' in reloaded.content.decode()
    # Nothing new was made: the codes on the first screen still work.
    assert sorted(StaticToken.objects.filter(device__user=member).values_list("token", flat=True)) == digests
    # And the session no longer holds them.
    assert not any(code in str(dict(actor_client.session)) for code in codes)
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, codes[0]).status_code == 302


def test_backup_codes_page_offers_copy_print_and_a_txt_download_of_the_same_codes(actor, actor_client, member):
    response = actor_client.post(add_url(actor, member, "backup"), follow=True)
    codes = re.findall(r"<li>([0-9a-f]{8})</li>", page(response))

    body = response.content.decode()
    href = re.search(
        r'<a class="button" href="(data:text/plain;charset=utf-8,[^"]+)" download="backup-codes.txt">', body
    )
    assert href, body
    text = unquote(html.unescape(href.group(1)).split(",", 1)[1])
    assert member.email in text
    assert [line.split(". ")[1] for line in text.splitlines()[3:]] == codes
    assert "data-copy=" in body and "data-print" in body
    assert re.search(r'<script src="/static/js/backup-codes\.js[^"]*" defer></script>', body)
    assert "<script>" not in body  # CSP script-src 'self': no inline script


def test_backup_codes_page_without_fresh_codes_makes_none(member_client, member):
    response = member_client.get("/tokens/backup-codes/")

    assert response.status_code == 200
    assert "These backup codes were already shown" in page(response)
    assert not StaticDevice.objects.filter(user=member).exists()


def test_new_backup_codes_replace_the_old_ones(actor, actor_client, member):
    url = add_url(actor, member, "backup")
    old = _new_backup_codes(actor_client, url)

    _new_backup_codes(actor_client, url)

    assert Token.objects.filter(user=member, kind=TokenKind.BACKUP).count() == 1
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, old[0]).status_code == 400


def test_unknown_kind_of_token_is_404(actor, actor_client, member):
    assert actor_client.get(add_url(actor, member, "carrier-pigeon")).status_code == 404
