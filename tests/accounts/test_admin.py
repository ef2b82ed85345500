"""The support admin (/admin/): who gets in, and what support does there for organisations."""

import re
from base64 import b32decode
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import Organisation, PortalPermission, Role, User
from audit.models import AuditEvent
from demo.management.commands.seed_demo import DEMO_PASSWORD
from tests.conftest import log_in, make_support_group
from tests.conftest import page_text as _page
from tests.factories import PASSWORD, NewUserFactory, OrganisationFactory, UserFactory
from tokens.models import Token
from tokens.services import generate_backup_codes


def _action(client: Client, url: str, action: str, objects) -> object:
    return client.post(
        url, {"action": action, "_selected_action": [str(o.pk) for o in objects], "index": "0"}, follow=True
    )


def _user_change_form(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "telephone": "",
        "mobile": "",
        "is_active": "on" if user.is_active else "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


# --- Who gets in ------------------------------------------------------------------------------


def test_verified_staff_user_reaches_the_admin(support_client):
    response = support_client.get("/admin/")

    assert response.status_code == 200
    assert "API Platform Portal — Support" in _page(response)
    assert "/admin/accounts/organisation/" in _page(response)


def test_staff_user_without_a_verified_session_is_sent_to_the_portal_login(client, support):
    client.force_login(support, backend="accounts.backends.EmailBackend")

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/admin/accounts/organisation/")["Location"].startswith("/login/")


def test_anonymous_visitor_is_sent_to_the_portal_login(client, db):
    response = client.get("/admin/accounts/user/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_staff_user_without_a_verified_session_cannot_post_admin_actions(client, support, organisation):
    client.force_login(support, backend="accounts.backends.EmailBackend")

    _action(client, "/admin/accounts/organisation/", "mark_verified", [organisation])

    assert Organisation.objects.get(pk=organisation.pk).is_verified is False


@pytest.mark.parametrize("url", ["/admin/", "/admin/accounts/user/", "/admin/accounts/organisation/"])
def test_organisation_user_gets_no_admin_access(owner_client, url):
    response = owner_client.get(url, follow=True)

    assert response.status_code == 403
    assert "only for support staff" in _page(response)
    assert "Portal support" not in _page(response)


def test_staff_login_with_second_factor_lands_in_the_admin(client, support):
    device = support.totpdevice_set.get()
    response = client.post("/login/?next=/admin/", {"username": support.email, "password": PASSWORD})
    assert response.url == "/login/code/"
    code = str(TOTP(device.bin_key).token()).zfill(6)
    response = client.post("/login/code/", {"code": code}, follow=True)

    assert response.redirect_chain[-1][0] == "/admin/"
    assert "API Platform Portal — Support" in _page(response)


def test_organisation_admin_cannot_use_admin_actions(owner_client, owner, organisation):
    _action(owner_client, "/admin/accounts/organisation/", "mark_verified", [organisation])
    owner_client.post(
        "/admin/accounts/organisation/add/",
        {"name": "Sneaky Ltd", "user_limit": "4", "users-TOTAL_FORMS": "0"},
    )

    assert Organisation.objects.get(pk=organisation.pk).is_verified is False
    assert not Organisation.objects.filter(name="Sneaky Ltd").exists()


def test_support_header_link_only_for_verified_staff(owner_client):
    assert "Support admin" not in _page(owner_client.get("/"))


# --- Creating users ---------------------------------------------------------------------------


def test_support_creates_an_organisations_first_admin(support_client, django_capture_on_commit_callbacks):
    org = OrganisationFactory(name="Initech Ltd")

    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            "/admin/accounts/user/add/",
            {
                "email": "Peter@Initech.example",
                "full_name": "Peter Gibbons",
                "organisation": org.pk,
                "role": "admin",
            },
            follow=True,
        )

    assert response.status_code == 200
    assert "A welcome email with a temporary password is on its way to peter@initech.example." in _page(response)
    created = User.objects.get(email="peter@initech.example")
    assert created.organisation == org
    assert created.role == Role.ADMIN
    assert created.is_staff is False
    assert not created.has_usable_password()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["peter@initech.example"]
    assert "Initech Ltd" in message.body
    password = re.search(r"Temporary password: (\S+)", message.body).group(1)
    assert services.authenticate_with_temporary_password(email=created.email, password=password) == created


def test_support_cannot_create_a_user_beyond_the_organisations_limit(
    support_client, owner, organisation, django_capture_on_commit_callbacks
):
    for _ in range(3):
        UserFactory(organisation=organisation)

    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            "/admin/accounts/user/add/",
            {
                "email": "fifth@acme.example",
                "full_name": "Fifth",
                "organisation": organisation.pk,
                "role": "user",
            },
        )

    assert response.status_code == 200
    # The portal's rule and message (accounts.services.check_user_limit), not an admin copy of them.
    assert "Acme Payments Ltd already has 4 active users, the most its plan allows." in _page(response)
    assert not User.objects.filter(email="fifth@acme.example").exists()
    assert organisation.users.count() == 4
    assert mail.outbox == []


def test_support_cannot_create_a_user_with_an_email_in_use(
    support_client, owner, organisation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            "/admin/accounts/user/add/",
            {
                "email": "OWNER@acme.example",
                "full_name": "Copy",
                "organisation": organisation.pk,
                "role": "user",
            },
        )

    assert response.status_code == 200
    assert "User with this Email address already exists." in _page(response)
    assert User.objects.filter(email__iexact="owner@acme.example").count() == 1
    assert organisation.users.count() == 1
    assert mail.outbox == []


def test_support_must_choose_the_new_users_organisation(support_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            "/admin/accounts/user/add/",
            {"email": "lost@example.com", "full_name": "Lost", "role": "user", "is_staff": "on"},
        )

    assert response.status_code == 200
    assert "Choose the user&#x27;s organisation." in _page(response)
    assert 'name="is_staff"' not in _page(response)  # support staff are added by a superuser
    assert not User.objects.filter(email="lost@example.com").exists()
    assert mail.outbox == []


def test_superuser_user_without_organisation_must_be_staff(superuser_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            "/admin/accounts/user/add/", {"email": "lost@example.com", "full_name": "Lost", "role": "user"}
        )

    assert response.status_code == 200
    assert "Choose the user&#x27;s organisation, or tick &#x27;support staff&#x27;." in _page(response)
    assert not User.objects.filter(email="lost@example.com").exists()
    assert mail.outbox == []


def test_superuser_adds_support_staff_in_the_support_group(superuser_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            "/admin/accounts/user/add/",
            {"email": "Nia@Support.example", "full_name": "Nia New", "role": "user", "is_staff": "on"},
        )

    assert response.status_code == 302
    created = User.objects.get(email="nia@support.example")
    assert (created.is_staff, created.is_superuser, created.organisation) == (True, False, None)
    assert list(created.groups.values_list("name", flat=True)) == ["Support"]
    assert created.has_perm("accounts.add_organisation")
    assert mail.outbox[0].to == ["nia@support.example"]


# --- Organisation actions ---------------------------------------------------------------------


def test_mark_verified_records_who_and_when_and_the_portal_shows_it(
    support_client, support, owner_client, organisation
):
    assert "Not verified" in _page(owner_client.get("/"))

    response = _action(support_client, "/admin/accounts/organisation/", "mark_verified", [organisation])

    assert "1 organisation(s) marked verified." in _page(response)
    organisation.refresh_from_db()
    assert organisation.is_verified is True
    assert organisation.verified_by == support
    assert organisation.verified_at is not None
    page = _page(owner_client.get("/"))
    assert ">Verified<" in page
    assert "Not verified" not in page


def test_mark_not_verified_clears_the_verification(support_client, support, organisation):
    services.mark_organisation_verified(organisation=organisation, verified=True, acting_user=support)

    _action(support_client, "/admin/accounts/organisation/", "mark_not_verified", [organisation])

    organisation.refresh_from_db()
    assert organisation.is_verified is False
    assert organisation.verified_by is None
    assert organisation.verified_at is None


def test_mark_verified_only_touches_the_selected_organisations(support_client, organisation, outsider):
    _action(support_client, "/admin/accounts/organisation/", "mark_verified", [organisation])

    assert Organisation.objects.get(pk=outsider.organisation_id).is_verified is False


# --- User actions -----------------------------------------------------------------------------


def test_reset_second_factors_deletes_the_users_devices(support_client, member, client):
    generate_backup_codes(user=member, acting_user=member)
    log_in(client, member)

    response = _action(support_client, "/admin/accounts/user/", "reset_factors", [member])

    assert "Second factors reset for 1 user(s)." in _page(response)
    assert not Token.objects.filter(user=member).exists()
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not StaticDevice.objects.filter(user=member).exists()
    assert client.get("/")["Location"] == "/login/?next=/"


def test_resend_welcome_action_sends_a_new_temporary_password(
    support_client, organisation, django_capture_on_commit_callbacks
):
    newcomer = NewUserFactory(organisation=organisation, email="new@acme.example")

    with django_capture_on_commit_callbacks(execute=True):
        response = _action(support_client, "/admin/accounts/user/", "resend_welcome", [newcomer])

    assert "Welcome email queued for new@acme.example." in _page(response)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@acme.example"]
    password = re.search(r"Temporary password: (\S+)", mail.outbox[0].body).group(1)
    assert services.authenticate_with_temporary_password(email=newcomer.email, password=password) == newcomer


def test_resend_welcome_action_warns_for_a_user_with_a_password(
    support_client, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _action(support_client, "/admin/accounts/user/", "resend_welcome", [member])

    # The admin capitalises the first letter of a message.
    assert "Member@acme.example: This user has already chosen a password" in _page(response)
    assert mail.outbox == []


# --- Editing a user ---------------------------------------------------------------------------


def test_admin_change_form_refuses_demoting_the_last_admin(support_client, owner):
    response = support_client.post(f"/admin/accounts/user/{owner.pk}/change/", _user_change_form(owner, role="user"))

    assert response.status_code == 200
    assert "Olivia Owner is the organisation&#x27;s only active admin." in _page(response)
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN


def test_admin_change_form_refuses_deactivating_the_last_admin(support_client, owner):
    response = support_client.post(f"/admin/accounts/user/{owner.pk}/change/", _user_change_form(owner, is_active=""))

    assert response.status_code == 200
    assert "only active admin" in _page(response)
    owner.refresh_from_db()
    assert owner.is_active is True


def test_admin_change_form_saves_other_changes(support_client, owner, member):
    response = support_client.post(
        f"/admin/accounts/user/{member.pk}/change/",
        _user_change_form(member, full_name="Maxine Member", role="admin", mobile="07911 123456"),
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.full_name == "Maxine Member"
    assert member.role == Role.ADMIN
    assert member.mobile == "+447911123456"


def test_an_admin_role_change_is_audited_like_the_portals(support_client, support, owner, member):
    response = support_client.post(f"/admin/accounts/user/{member.pk}/change/", _user_change_form(member, role="admin"))

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="user.role_changed")
    assert (event.actor, event.subject_user, event.organisation) == (support, member, member.organisation)
    assert event.details == {"role": "admin", "permissions": []}


def test_an_admin_deactivation_and_reactivation_are_audited_and_end_the_sessions(support_client, support, member):
    epoch = member.session_epoch

    support_client.post(f"/admin/accounts/user/{member.pk}/change/", _user_change_form(member, is_active=""))

    member.refresh_from_db()
    assert member.is_active is False
    assert member.session_epoch == epoch + 1
    assert AuditEvent.objects.get(action="user.deactivated").actor == support

    response = support_client.post(
        f"/admin/accounts/user/{member.pk}/change/", _user_change_form(member, is_active="on")
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.is_active is True
    assert AuditEvent.objects.get(action="user.reactivated").subject_user == member


def test_an_admin_reactivation_respects_the_user_limit(support_client, owner, organisation):
    former = UserFactory(organisation=organisation, is_active=False, email="former@acme.example")
    for _ in range(3):
        UserFactory(organisation=organisation)

    response = support_client.post(
        f"/admin/accounts/user/{former.pk}/change/", _user_change_form(former, is_active="on")
    )

    assert response.status_code == 200
    assert "Acme Payments Ltd already has 4 active users, the most its plan allows." in _page(response)
    former.refresh_from_db()
    assert former.is_active is False
    assert not AuditEvent.objects.filter(action="user.reactivated").exists()


def test_saving_a_user_without_access_changes_records_no_access_event(support_client, member):
    support_client.post(f"/admin/accounts/user/{member.pk}/change/", _user_change_form(member, full_name="Max"))

    assert not AuditEvent.objects.filter(action__in=["user.role_changed", "user.deactivated"]).exists()


def test_a_superusers_permission_grant_goes_through_the_service(superuser_client, superuser, member):
    manage_files = Permission.objects.get(content_type__app_label="accounts", codename="manage_files")
    view_billing = Permission.objects.get(content_type__app_label="accounts", codename="view_billing")
    member.user_permissions.set([view_billing])

    response = superuser_client.post(
        f"/admin/accounts/user/{member.pk}/change/",
        {**_user_change_form(member), "user_permissions": [str(manage_files.pk), str(view_billing.pk)]},
    )

    assert response.status_code == 302
    member = User.objects.get(pk=member.pk)
    assert member.has_portal_permission(PortalPermission.MANAGE_FILES)
    assert member.has_portal_permission(PortalPermission.VIEW_BILLING)
    event = AuditEvent.objects.get(action="user.role_changed")
    assert (event.actor, event.details["permissions"]) == (superuser, ["manage_files", "view_billing"])


def test_a_superuser_cannot_deactivate_their_own_account_in_the_admin(superuser_client, superuser):
    response = superuser_client.post(
        f"/admin/accounts/user/{superuser.pk}/change/",
        {**_user_change_form(superuser, is_active=""), "is_staff": "on", "is_superuser": "on"},
    )

    assert response.status_code == 200
    assert "You cannot deactivate your own account." in _page(response)
    superuser.refresh_from_db()
    assert superuser.is_active is True


# --- Support staff's role: the Support group, not superuser (issue 14 #7) --------------------------

EXPECTED_SUPPORT_PERMISSIONS = {
    "accounts": {
        "view_organisation",
        "add_organisation",
        "change_organisation",
        "view_user",
        "add_user",
        "change_user",
        "view_companydetailschangerequest",
        "change_companydetailschangerequest",
    },
    "audit": {"view_auditevent"},
    "tokens": {"view_tokentype", "change_tokentype", "view_token", "add_token", "change_token", "delete_token"},
    "platform_api": {"view_platformkey", "add_platformkey", "change_platformkey"},
    "dashboard": {
        "view_dailymethodcount",
        "view_errorlog",
        "view_ingestedbatch",
        "view_vaultstat",
        "view_fiveminutemethodcount",
    },
    "whitelist": {"view_whitelistentry"},
    "files": {"view_storedfile", "change_storedfile"},
    "support": {
        "view_ticket",
        "add_ticket",
        "change_ticket",
        "view_comment",
        "view_attachment",
        "view_resourcelink",
        "add_resourcelink",
        "change_resourcelink",
        "delete_resourcelink",
    },
    "billing": {
        "view_invoice",
        "add_invoice",
        "change_invoice",
        "delete_invoice",
        "view_invoiceline",
        "add_invoiceline",
        "change_invoiceline",
        "delete_invoiceline",
    },
    "extracts": {"view_extractrequest", "change_extractrequest"},
    "alarms": {"view_alarm", "view_alarmevent", "view_webhookendpoint", "view_webhookdelivery"},
    "apikeys": {"view_apikey", "change_apikey", "view_apikeysecret"},
}


def _group_permissions() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for app, codename in Group.objects.get(name="Support").permissions.values_list(
        "content_type__app_label", "codename"
    ):
        found.setdefault(app, set()).add(codename)
    return found


def test_the_support_group_has_exactly_what_support_needs(db):
    assert _group_permissions() == EXPECTED_SUPPORT_PERMISSIONS


def test_the_support_group_is_set_again_by_its_migration(db):
    """Idempotent: a second run neither duplicates the group nor keeps a permission added by hand."""
    group = Group.objects.get(name="Support")
    group.permissions.add(Permission.objects.get(codename="view_totpdevice"))

    make_support_group()  # the migration's function, on the models as the migration sees them
    make_support_group()

    assert Group.objects.filter(name="Support").count() == 1
    assert _group_permissions() == EXPECTED_SUPPORT_PERMISSIONS
    Group.objects.filter(name="Support").delete()  # as a transactional test's flush leaves it
    make_support_group()
    assert _group_permissions() == EXPECTED_SUPPORT_PERMISSIONS


def test_support_staff_are_not_superusers(support):
    assert (support.is_staff, support.is_superuser) == (True, False)
    assert not support.has_perm("otp_totp.view_totpdevice")
    assert not support.has_perm("audit.change_auditevent")
    assert not support.has_perm("audit.delete_auditevent")
    assert not support.has_perm("accounts.delete_user")
    assert not support.has_perm("auth.change_group")


def test_support_cannot_make_itself_a_superuser(support_client, support):
    response = support_client.post(
        f"/admin/accounts/user/{support.pk}/change/",
        {**_user_change_form(support), "is_staff": "on", "is_superuser": "on"},
    )

    assert response.status_code == 403
    support.refresh_from_db()
    assert support.is_superuser is False


def test_support_cannot_give_a_customer_staff_rights_or_groups(support_client, member):
    support_group = Group.objects.get(name="Support")
    page = _page(support_client.get(f"/admin/accounts/user/{member.pk}/change/"))
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page

    response = support_client.post(
        f"/admin/accounts/user/{member.pk}/change/",
        {
            **_user_change_form(member, full_name="Max Member"),
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [support_group.pk],
        },
    )

    assert response.status_code == 302  # the rest of the form is saved
    member.refresh_from_db()
    assert (member.is_staff, member.is_superuser) == (False, False)
    assert not member.groups.exists()


def test_support_cannot_reset_a_colleagues_factors(support_client, superuser):
    colleague = UserFactory(organisation=None, is_staff=True, email="kim@support.example")

    response = _action(support_client, "/admin/accounts/user/", "reset_factors", [colleague, superuser])

    assert "only a superuser changes support staff" in _page(response)
    assert TOTPDevice.objects.filter(user=colleague).exists()
    assert TOTPDevice.objects.filter(user=superuser).exists()


def test_staff_outside_the_support_group_get_an_empty_admin(client, db):
    stranger = log_in(client, UserFactory(organisation=None, is_staff=True, email="temp@support.example"))

    index = _page(stranger.get("/admin/"))

    assert "permission to view or edit anything." in index
    assert stranger.get("/admin/accounts/organisation/").status_code == 403


@pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault
def test_the_demo_support_login_is_support_staff_in_the_group(client):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    printed = out.getvalue()
    line = next(line for line in printed.splitlines() if "support@portal.example" in line)
    key = re.search(r"authenticator key (\S+)", line).group(1)

    assert "support staff (/admin/)" in line
    assert client.post("/login/", {"username": "support@portal.example", "password": DEMO_PASSWORD}).url == (
        "/login/code/"
    )
    code = str(TOTP(b32decode(key)).token()).zfill(6)
    response = client.post("/login/code/", {"code": code, "next": "/admin/"}, follow=True)
    index = _page(client.get("/admin/"))
    assert "Organisations" in index and "Invoices" in index and "Tickets" in index
    support = User.objects.get(email="support@portal.example")
    assert (support.is_staff, support.is_superuser) == (True, False)
    assert list(support.groups.values_list("name", flat=True)) == ["Support"]
    assert response.status_code == 200
