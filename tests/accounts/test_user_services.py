"""The rules of accounts/services.py for an organisation's users (SPEC §2)."""

import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import CompanyDetailsChangeRequest, PortalPermission, Role, User
from tests.conftest import log_in
from tests.factories import PASSWORD, AdminFactory, NewUserFactory, UserFactory
from tokens import services as tokens
from tokens.models import SmsDevice, Token, TokenKind

LIMIT_MESSAGE = "already has 4 active users, the most its plan allows"
LAST_ADMIN_MESSAGE = "is the organisation's only active admin"


def _add(organisation, owner, email: str, **kwargs) -> User:
    return services.add_user(
        organisation=organisation,
        email=email,
        full_name=kwargs.pop("full_name", "New Person"),
        role=kwargs.pop("role", Role.USER),
        acting_user=owner,
        **kwargs,
    )


def _fill_to_limit(organisation):
    """The owner plus three members: four active users, the default limit."""
    return [UserFactory(organisation=organisation) for _ in range(3)]


def _temporary_password(message: mail.EmailMessage) -> str:
    match = re.search(r"Temporary password: (\S+)", str(message.body))
    assert match, message.body
    return match.group(1)


# --- The user limit ---------------------------------------------------------------------------


def test_organisation_limit_defaults_to_four(organisation):
    assert organisation.user_limit == 4


def test_admin_can_add_users_up_to_the_limit(organisation, owner):
    for n in range(3):
        _add(organisation, owner, f"person{n}@acme.example")

    assert organisation.users.filter(is_active=True).count() == 4


def test_admin_cannot_add_fifth_user(organisation, owner, django_capture_on_commit_callbacks):
    _fill_to_limit(organisation)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as exc_info:
        _add(organisation, owner, "fifth@acme.example")

    assert exc_info.value.code == "user_limit"
    assert "Acme Payments Ltd " + LIMIT_MESSAGE in exc_info.value.messages[0]
    assert not User.objects.filter(email="fifth@acme.example").exists()
    assert organisation.users.count() == 4
    assert mail.outbox == []


def test_deactivated_users_do_not_count_towards_the_limit(organisation, owner):
    members = _fill_to_limit(organisation)
    services.deactivate_user(user=members[0], acting_user=owner)

    added = _add(organisation, owner, "replacement@acme.example")

    assert added.organisation == organisation
    assert organisation.users.filter(is_active=True).count() == 4


def test_limit_raised_by_support_allows_more_users(organisation, owner):
    _fill_to_limit(organisation)
    organisation.user_limit = 5
    organisation.save()

    _add(organisation, owner, "fifth@acme.example")

    assert organisation.users.filter(is_active=True).count() == 5


def test_reactivation_is_refused_at_the_limit(organisation, owner):
    members = _fill_to_limit(organisation)
    services.deactivate_user(user=members[0], acting_user=owner)
    _add(organisation, owner, "replacement@acme.example")

    with pytest.raises(ValidationError) as exc_info:
        services.reactivate_user(user=members[0], acting_user=owner)

    assert LIMIT_MESSAGE in exc_info.value.messages[0]
    members[0].refresh_from_db()
    assert members[0].is_active is False


def test_reactivation_below_the_limit_lets_the_user_in_again(organisation, owner, member, client):
    services.deactivate_user(user=member, acting_user=owner)

    services.reactivate_user(user=member, acting_user=owner)

    member.refresh_from_db()
    assert member.is_active is True
    assert log_in(client, member).get("/").status_code == 200


# --- Email addresses --------------------------------------------------------------------------


def test_email_already_used_is_refused_whatever_its_case(organisation, owner):
    with pytest.raises(ValidationError) as exc_info:
        _add(organisation, owner, "Owner@ACME.example")

    assert exc_info.value.message_dict == {"email": ["This email address already belongs to a portal account."]}
    assert organisation.users.count() == 1


def test_email_of_another_organisations_user_is_refused(organisation, owner, outsider):
    with pytest.raises(ValidationError):
        _add(organisation, owner, "OUTSIDER@globex.example")

    assert organisation.users.count() == 1
    assert User.objects.filter(email__iexact="outsider@globex.example").count() == 1


def test_email_is_stored_in_lowercase(organisation, owner):
    added = _add(organisation, owner, "  New.Person@Acme.EXAMPLE ")

    added.refresh_from_db()
    assert added.email == "new.person@acme.example"


# --- The last active admin --------------------------------------------------------------------


def test_last_admin_cannot_be_demoted(organisation, owner):
    with pytest.raises(ValidationError) as exc_info:
        services.change_role_and_permissions(user=owner, role=Role.USER, permissions=[], acting_user=owner)

    assert exc_info.value.messages == [
        "Olivia Owner is the organisation's only active admin. Make another user an admin first."
    ]
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN


def test_last_admin_cannot_be_deactivated(organisation, owner, support):
    with pytest.raises(ValidationError) as exc_info:
        services.deactivate_user(user=owner, acting_user=support)

    assert LAST_ADMIN_MESSAGE in exc_info.value.messages[0]
    owner.refresh_from_db()
    assert owner.is_active is True


def test_last_admin_cannot_be_removed(organisation, owner, support):
    with pytest.raises(ValidationError) as exc_info:
        services.remove_user(user=owner, acting_user=support)

    assert LAST_ADMIN_MESSAGE in exc_info.value.messages[0]
    assert User.objects.filter(pk=owner.pk).exists()
    assert TOTPDevice.objects.filter(user=owner).exists()


def test_deactivated_admin_does_not_count_as_a_remaining_admin(organisation, owner, support):
    other_admin = AdminFactory(organisation=organisation)
    services.deactivate_user(user=other_admin, acting_user=owner)

    with pytest.raises(ValidationError) as exc_info:
        services.change_role_and_permissions(user=owner, role=Role.USER, permissions=[], acting_user=owner)

    assert LAST_ADMIN_MESSAGE in exc_info.value.messages[0]
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN


def test_admin_can_be_demoted_when_another_admin_remains(organisation, owner):
    other_admin = AdminFactory(organisation=organisation)

    services.change_role_and_permissions(user=owner, role=Role.USER, permissions=[], acting_user=other_admin)

    owner.refresh_from_db()
    assert owner.role == Role.USER


def test_admin_cannot_deactivate_themselves(organisation, owner):
    AdminFactory(organisation=organisation)

    with pytest.raises(ValidationError) as exc_info:
        services.deactivate_user(user=owner, acting_user=owner)

    assert exc_info.value.messages == ["You cannot deactivate your own account."]
    owner.refresh_from_db()
    assert owner.is_active is True


def test_admin_cannot_remove_themselves(organisation, owner):
    AdminFactory(organisation=organisation)

    with pytest.raises(ValidationError) as exc_info:
        services.remove_user(user=owner, acting_user=owner)

    assert exc_info.value.messages == ["You cannot remove your own account."]
    assert User.objects.filter(pk=owner.pk).exists()


def test_removing_a_user_deletes_them_and_their_factors(organisation, owner, member):
    tokens.generate_backup_codes(user=member, acting_user=member)

    services.remove_user(user=member, acting_user=owner)

    assert not User.objects.filter(pk=member.pk).exists()
    assert not Token.objects.filter(user_id=member.pk).exists()
    assert not TOTPDevice.objects.filter(user_id=member.pk).exists()
    assert not StaticDevice.objects.filter(user_id=member.pk).exists()


def test_user_with_a_change_request_on_record_is_not_removed(organisation, owner, member):
    CompanyDetailsChangeRequest.objects.create(organisation=organisation, requested_by=member, name="Acme Group")

    with pytest.raises(ValidationError) as exc_info:
        services.remove_user(user=member, acting_user=owner)

    assert exc_info.value.code == "protected"
    assert "Deactivate it instead." in exc_info.value.messages[0]
    assert User.objects.filter(pk=member.pk).exists()
    # Nothing half-done: the factors deleted before the refusal are back.
    assert TOTPDevice.objects.filter(user=member).exists()
    assert Token.objects.filter(user=member, kind=TokenKind.TOTP).exists()


# --- Sessions and factors ---------------------------------------------------------------------


def test_deactivated_user_is_logged_out_at_their_next_request(organisation, owner, member, client):
    log_in(client, member)
    assert client.get("/").status_code == 200

    services.deactivate_user(user=member, acting_user=owner)

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"
    member.refresh_from_db()
    assert member.session_epoch == 1


def test_deactivated_user_cannot_log_in_with_their_password(organisation, owner, member, client):
    services.deactivate_user(user=member, acting_user=owner)

    response = client.post("/login/", {"username": member.email, "password": PASSWORD})

    assert "The email or password is not correct." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_reset_second_factors_removes_devices_and_ends_sessions(organisation, owner, member, client):
    tokens.generate_backup_codes(user=member, acting_user=member)
    phone = SmsDevice.objects.create(user=member, name="sms", number="+447911123456", confirmed=True)
    Token.objects.create(
        user=member, kind=TokenKind.SMS, device_type=ContentType.objects.get_for_model(phone), device_id=phone.pk
    )
    log_in(client, member)
    assert client.get("/").status_code == 200

    services.reset_second_factors(user=member, acting_user=owner)

    assert not Token.objects.filter(user=member).exists()
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not StaticDevice.objects.filter(user=member).exists()
    assert not SmsDevice.objects.filter(user=member).exists()
    # The user is still active, yet the session that proved the old factor is over.
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_user_must_enrol_again_after_reset_second_factors(organisation, owner, member, client):
    services.reset_second_factors(user=member, acting_user=owner)

    member.refresh_from_db()
    # A new password first (the old one was removed with the factors), then an authenticator.
    assert services.next_onboarding_step(member) == "onboarding-password"
    member.set_password("a-new-long-passphrase-1")
    member.save()
    assert services.next_onboarding_step(member) == "onboarding-authenticator"
    response = log_in(client, member).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/setup/authenticator/"


# --- The welcome email ------------------------------------------------------------------------


def test_adding_a_user_sends_one_welcome_email(organisation, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        added = _add(organisation, owner, "new.person@acme.example", full_name="Nina New")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@acme.example"]
    assert "Hello Nina New" in message.body
    assert "Acme Payments Ltd" in message.body
    assert "Log in at: http://127.0.0.1:8000/login/" in message.body
    assert "expires in 24 hours" in message.body
    password = _temporary_password(message)
    assert len(password) == services.TEMPORARY_PASSWORD_LENGTH
    assert services.authenticate_with_temporary_password(email=added.email, password=password) == added


def test_no_email_is_sent_before_the_transaction_commits(organisation, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _add(organisation, owner, "new.person@acme.example")

    assert mail.outbox == []
    for callback in callbacks:  # the commit
        callback()
    assert len(mail.outbox) == 1


def test_temporary_password_works_only_once(organisation, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        added = _add(organisation, owner, "new.person@acme.example")
    password = _temporary_password(mail.outbox[0])

    assert services.authenticate_with_temporary_password(email=added.email, password=password) == added
    assert services.authenticate_with_temporary_password(email=added.email, password=password) is None


def test_resend_welcome_gives_a_new_password_and_the_old_one_stops_working(
    organisation, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        added = _add(organisation, owner, "new.person@acme.example")
    old_password = _temporary_password(mail.outbox[0])

    with django_capture_on_commit_callbacks(execute=True):
        services.resend_welcome_email(user=added, acting_user=owner)

    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["new.person@acme.example"]
    new_password = _temporary_password(mail.outbox[1])
    assert new_password != old_password
    assert services.authenticate_with_temporary_password(email=added.email, password=old_password) is None
    assert services.authenticate_with_temporary_password(email=added.email, password=new_password) == added


def test_resend_welcome_is_refused_once_the_user_chose_a_password(
    organisation, owner, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as exc_info:
        services.resend_welcome_email(user=member, acting_user=owner)

    assert exc_info.value.messages == [
        "This user has already chosen a password; they can use 'Forgot password' instead."
    ]
    assert mail.outbox == []
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_resend_welcome_is_refused_for_a_deactivated_user(organisation, owner, django_capture_on_commit_callbacks):
    newcomer = NewUserFactory(organisation=organisation, is_active=False)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.resend_welcome_email(user=newcomer, acting_user=owner)

    assert mail.outbox == []


# --- Permissions ------------------------------------------------------------------------------


def _fresh(user: User) -> User:
    """The user as the next request loads them (Django caches permissions on the instance)."""
    return User.objects.get(pk=user.pk)


def test_permissions_granted_to_a_user_are_the_ones_they_hold(organisation, owner, member):
    services.change_role_and_permissions(
        user=member,
        role=Role.USER,
        permissions=[PortalPermission.VIEW_BILLING, PortalPermission.MANAGE_FILES],
        acting_user=owner,
    )

    member = _fresh(member)
    assert member.has_portal_permission(PortalPermission.VIEW_BILLING)
    assert member.has_portal_permission(PortalPermission.MANAGE_FILES)
    assert not member.has_portal_permission(PortalPermission.MANAGE_WHITELIST)


def test_permissions_taken_away_are_gone(organisation, owner, member):
    services.change_role_and_permissions(
        user=member, role=Role.USER, permissions=list(PortalPermission), acting_user=owner
    )

    services.change_role_and_permissions(
        user=member, role=Role.USER, permissions=[PortalPermission.MANAGE_WHITELIST], acting_user=owner
    )

    member = _fresh(member)
    assert member.granted_permissions == [PortalPermission.MANAGE_WHITELIST]
    assert not member.has_portal_permission(PortalPermission.VIEW_BILLING)


def test_plain_user_holds_no_permission_by_default(organisation, owner, member):
    assert [p for p in PortalPermission if _fresh(member).has_portal_permission(p)] == []


def test_admins_hold_every_permission(organisation, owner):
    assert all(_fresh(owner).has_portal_permission(p) for p in PortalPermission)


def test_permissions_chosen_when_adding_a_user_are_granted(organisation, owner):
    added = _add(organisation, owner, "new.person@acme.example", permissions=[PortalPermission.VIEW_BILLING])

    assert _fresh(added).granted_permissions == [PortalPermission.VIEW_BILLING]


def test_demoted_admin_gets_exactly_the_permissions_chosen(organisation, owner):
    other_admin = AdminFactory(organisation=organisation)

    services.change_role_and_permissions(
        user=other_admin, role=Role.USER, permissions=[PortalPermission.MANAGE_FILES], acting_user=owner
    )

    demoted = _fresh(other_admin)
    assert demoted.role == Role.USER
    assert demoted.has_portal_permission(PortalPermission.MANAGE_FILES)
    assert not demoted.has_portal_permission(PortalPermission.VIEW_BILLING)
    assert not demoted.has_portal_permission(PortalPermission.MANAGE_WHITELIST)


def test_promoted_then_demoted_user_keeps_no_old_permissions(organisation, owner, member):
    services.change_role_and_permissions(
        user=member, role=Role.USER, permissions=[PortalPermission.VIEW_BILLING], acting_user=owner
    )
    services.change_role_and_permissions(user=member, role=Role.ADMIN, permissions=[], acting_user=owner)
    assert all(_fresh(member).has_portal_permission(p) for p in PortalPermission)

    services.change_role_and_permissions(user=member, role=Role.USER, permissions=[], acting_user=owner)

    assert [p for p in PortalPermission if _fresh(member).has_portal_permission(p)] == []


def test_deactivated_user_holds_no_permission(organisation, owner, member):
    services.change_role_and_permissions(
        user=member, role=Role.USER, permissions=list(PortalPermission), acting_user=owner
    )

    services.deactivate_user(user=member, acting_user=owner)

    assert [p for p in PortalPermission if _fresh(member).has_portal_permission(p)] == []
