"""A token's page: its facts and the actions it offers.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

from datetime import timedelta

from django.utils import timezone

from tests.tokens.helpers import (
    add_hardware,
    page,
    press,
)
from tokens.models import Token


def test_detail_shows_every_fact_of_the_token(actor, actor_client, member):
    expires = timezone.now() + timedelta(days=400)
    token = add_hardware(member, serial="HW-DETAIL", description="Spare", expires_at=expires)

    response = actor_client.get(f"/tokens/{token.pk}/")

    assert response.status_code == 200
    text = page(response)
    for fact in ("Hardware token", "ACTIVE", "Spare", "HW-DETAIL", member.full_name, "Last updated"):
        assert fact in text
    assert f"{timezone.localtime(expires):%-d %b %Y}" in text
    assert "Never" in text  # not used since it was registered
    for action in ("test", "edit", "reset", "disable", "delete"):
        assert f'"/tokens/{token.pk}/{action}/"' in text


def test_detail_shows_when_the_token_was_last_used(actor_client, member, hardware):
    actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})

    text = page(actor_client.get(f"/tokens/{hardware.pk}/"))

    assert f"{timezone.localtime():%-d %b %Y}" in text.split("Last used", 1)[1].split("Last updated", 1)[0]


def test_detail_of_an_expired_token_says_expired(actor_client, member):
    token = add_hardware(member, serial="HW-OLD")
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))

    text = page(actor_client.get(f"/tokens/{token.pk}/"))

    assert "EXPIRED" in text
    assert "ACTIVE" not in text
