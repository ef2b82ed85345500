"""Support works tokens in the admin: rename types, test, resynchronise, add, disable, unlock."""

import pytest
from django_otp.plugins.otp_hotp.models import HOTPDevice

from audit.models import AuditEvent
from tests.conftest import log_in
from tests.factories import UserFactory
from tests.tokens.helpers import SEED_HEX, code_at
from tokens import services
from tokens.models import Token, TokenKind, TokenType


@pytest.fixture
def hardware(member, owner):
    return services.enrol_hotp(
        user=member, serial="HW-9", secret=SEED_HEX, digits=6, expires_at=None, code=code_at(0), acting_user=owner
    )


def test_support_renames_a_token_type_and_users_see_the_new_name(support_client, member_client, member):
    TokenType.objects.filter(kind="totp").update(display_name="Phone app")

    assert "Phone app" in member_client.get("/tokens/").content.decode()
    page = support_client.get("/admin/tokens/tokentype/")
    assert page.status_code == 200
    assert "Phone app" in page.content.decode()


def test_support_tests_a_code_and_sees_the_result(support_client, hardware):
    right = support_client.post(f"/admin/tokens/token/{hardware.pk}/test/", {"code": code_at(1)})
    wrong = support_client.post(f"/admin/tokens/token/{hardware.pk}/test/", {"code": "000000"})

    assert "Success: the code is right." in right.content.decode()
    assert "Failed: that code is not right" in wrong.content.decode()
    assert AuditEvent.objects.filter(action="token.test_passed").count() == 1


def test_support_resynchronises_a_hardware_token(support_client, hardware):
    response = support_client.post(
        f"/admin/tokens/token/{hardware.pk}/reset/", {"first_code": code_at(300), "second_code": code_at(301)}
    )

    assert response.status_code == 302
    hardware.refresh_from_db()
    assert hardware.device.counter == 302


def test_support_resync_with_wrong_codes_changes_nothing(support_client, hardware):
    response = support_client.post(
        f"/admin/tokens/token/{hardware.pk}/reset/", {"first_code": code_at(301), "second_code": code_at(300)}
    )

    assert "Nothing was changed" in response.content.decode()
    hardware.refresh_from_db()
    assert hardware.device.counter == 1


def test_support_adds_a_hardware_token_for_a_user(support_client, member):
    response = support_client.post(
        f"/admin/tokens/token/add-hardware/{member.pk}/",
        {"serial": "HW-77", "secret": SEED_HEX, "digits": "6", "code": code_at(0)},
    )

    assert response.status_code == 302
    assert Token.objects.get(user=member, kind=TokenKind.HOTP).serial == "HW-77"


def test_support_adding_a_token_with_a_wrong_code_creates_nothing(support_client, member):
    response = support_client.post(
        f"/admin/tokens/token/add-hardware/{member.pk}/",
        {"serial": "HW-77", "secret": SEED_HEX, "digits": "6", "code": "000000"},
    )

    assert response.status_code == 200
    assert "does not match this secret" in response.content.decode()
    assert not Token.objects.filter(user=member, kind=TokenKind.HOTP).exists()


def test_support_disables_and_unlocks_with_actions(support_client, hardware):
    url = "/admin/tokens/token/"
    support_client.post(url, {"action": "disable", "_selected_action": [hardware.pk]})
    hardware.refresh_from_db()
    assert hardware.enabled is False

    hardware.device.throttling_failure_count = 10
    hardware.device.save()
    support_client.post(url, {"action": "unlock", "_selected_action": [hardware.pk]})
    hardware.refresh_from_db()
    assert hardware.device.throttling_failure_count == 0


@pytest.mark.parametrize("path", ["{pk}/test/", "{pk}/reset/", "add-hardware/{user}/"])
def test_customers_cannot_use_the_admin_token_tools(owner_client, hardware, path):
    url = "/admin/tokens/token/" + path.format(pk=hardware.pk, user=hardware.user_id)

    response = owner_client.post(url, {"code": code_at(1), "first_code": code_at(5), "second_code": code_at(6)})

    assert response.status_code in (302, 403)
    hardware.refresh_from_db()
    assert hardware.device.counter == 1


@pytest.mark.parametrize("path", ["{pk}/test/", "{pk}/reset/", "add-hardware/{user}/"])
def test_staff_outside_the_support_group_cannot_use_the_token_tools(client, hardware, path):
    """The tools need the Support group's token permissions, not only a staff flag."""
    stranger = log_in(client, UserFactory(organisation=None, is_staff=True, email="temp@support.example"))
    url = "/admin/tokens/token/" + path.format(pk=hardware.pk, user=hardware.user_id)

    assert stranger.get(url).status_code == 403
    response = stranger.post(
        url, {"code": code_at(1), "first_code": code_at(5), "second_code": code_at(6), "serial": "HW-8"}
    )

    assert response.status_code == 403
    hardware.refresh_from_db()
    assert hardware.device.counter == 1
    assert not AuditEvent.objects.filter(action__startswith="token.test").exists()
    assert Token.objects.filter(kind=TokenKind.HOTP).count() == 1


def test_support_deletes_a_token_with_its_device(support_client, hardware):
    response = support_client.post(
        "/admin/tokens/token/", {"action": "delete_with_device", "_selected_action": [hardware.pk]}, follow=True
    )

    assert "1 token(s) deleted." in response.content.decode()
    assert not Token.objects.filter(pk=hardware.pk).exists()
    assert not HOTPDevice.objects.filter(pk=hardware.device_id).exists()


def test_token_pages_name_the_token_and_its_owner(support_client, hardware):
    page = support_client.get(f"/admin/tokens/token/{hardware.pk}/change/").content.decode()

    assert "Hardware token of member@acme.example" in page
