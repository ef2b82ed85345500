"""Editing a token's description.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

from tests.tokens.helpers import (
    actions_since,
    add_hardware,
    audit_mark,
    fresh,
    page,
    snapshot,
)


def test_editing_a_description_saves_it(actor, actor_client, member, hardware):
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{hardware.pk}/edit/", {"description": "  Top drawer  "}, follow=True)

    assert response.redirect_chain == [(f"/tokens/{hardware.pk}/", 302)]
    assert "The description is saved." in page(response)
    assert "Top drawer" in page(response)
    assert fresh(hardware).description == "Top drawer"
    assert actions_since(mark) == [("token.edited", actor.email)]


def test_edit_page_shows_the_current_description(actor_client, member):
    token = add_hardware(member, serial="HW-E", description="Blue fob")

    response = actor_client.get(f"/tokens/{token.pk}/edit/")

    assert response.status_code == 200
    assert 'value="Blue fob"' in page(response)


def test_too_long_description_is_refused_and_nothing_is_saved(actor_client, member, hardware):
    before = snapshot()

    response = actor_client.post(f"/tokens/{hardware.pk}/edit/", {"description": "x" * 121})

    assert response.status_code == 400
    assert "at most 120 characters" in page(response)
    assert snapshot() == before
