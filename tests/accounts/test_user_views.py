"""The organisation admin's /users/ pages (accounts/views/users.py)."""

import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import CompanyDetailsChangeRequest, PortalPermission, Role, User
from tests.conftest import page_text as _page
from tests.factories import AdminFactory, NewUserFactory, UserFactory
from tokens.models import Token

ADD_FORM = {"full_name": "Nina New", "email": "nina@acme.example", "role": "user"}


def _user_urls(user_id: int) -> list[str]:
    return [
        f"/users/{user_id}/",
        f"/users/{user_id}/deactivate/",
        f"/users/{user_id}/reactivate/",
        f"/users/{user_id}/resend-welcome/",
        f"/users/{user_id}/remove/",
    ]


def _snapshot(user: User) -> tuple:
    user = User.objects.get(pk=user.pk)
    return (user.role, user.is_active, user.session_epoch, user.password, sorted(user.granted_permissions))


# --- The list ---------------------------------------------------------------------------------


def test_list_shows_the_organisations_users(owner_client, owner, member):
    newcomer = NewUserFactory(organisation=owner.organisation, email="newcomer@acme.example")

    response = owner_client.get("/users/")

    assert response.status_code == 200
    page = _page(response)
    assert "owner@acme.example" in page
    assert "member@acme.example" in page
    assert newcomer.email in page
    assert "3 of 4 active users" in page
    assert "Setting up" in page


def test_list_never_shows_another_organisations_users(owner_client, member, outsider):
    UserFactory(organisation=outsider.organisation, email="colleague@globex.example")

    page = _page(owner_client.get("/users/"))

    assert "outsider@globex.example" not in page
    assert "colleague@globex.example" not in page
    assert "Globex" not in page


def test_list_at_the_limit_offers_no_add_button(owner_client, owner):
    for _ in range(3):
        UserFactory(organisation=owner.organisation)

    page = _page(owner_client.get("/users/"))

    assert "the limit is reached" in page
    assert "Deactivate or remove a user first, or ask support to raise the limit." in page
    assert 'href="/users/add/"' not in page


def test_list_issues_the_same_number_of_queries_for_one_and_four_users(owner_client, owner):
    owner_client.get("/users/")  # warm up: session and per-process caches

    with CaptureQueriesContext(connection) as one_user:
        response = owner_client.get("/users/")
    assert response.status_code == 200

    for permission in PortalPermission:
        user = UserFactory(organisation=owner.organisation)
        user.user_permissions.add(*_permission_objects([permission]))
    with CaptureQueriesContext(connection) as four_users:
        response = owner_client.get("/users/")
    assert response.status_code == 200
    assert _page(response).count('href="/users/') >= 4

    assert len(four_users) == len(one_user), "\n".join(q["sql"] for q in four_users.captured_queries)


def _permission_objects(permissions):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="accounts", codename__in=[p.value for p in permissions])


# --- Who may use these pages ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_member_is_forbidden_every_user_management_url(member_client, owner, member, method):
    urls = ["/users/", "/users/add/", *_user_urls(owner.pk), *_user_urls(member.pk)]
    before = (_snapshot(owner), _snapshot(member))

    for url in urls:
        response = getattr(member_client, method)(url, {"role": "user"} if method == "post" else None)
        assert response.status_code == 403, url

    assert (_snapshot(owner), _snapshot(member)) == before
    assert User.objects.count() == 2


@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_for_every_url_of_another_organisations_user(
    outsider_client, owner, member, method, django_capture_on_commit_callbacks
):
    newcomer = NewUserFactory(organisation=owner.organisation)
    targets = [owner, member, newcomer]
    before = [_snapshot(u) for u in targets]

    with django_capture_on_commit_callbacks(execute=True):
        for target in targets:
            for url in _user_urls(target.pk):
                data = {"role": "admin"} if method == "post" else None
                response = getattr(outsider_client, method)(url, data)
                assert response.status_code == 404, url

    assert [_snapshot(u) for u in targets] == before
    assert mail.outbox == []


def test_outsider_gets_404_for_an_id_that_does_not_exist(outsider_client):
    missing = User.objects.order_by("-pk").first().pk + 100

    for url in _user_urls(missing):
        assert outsider_client.get(url).status_code == 404, url
        assert outsider_client.post(url).status_code == 404, url


def test_anonymous_visitor_is_sent_to_login(client, member):
    for url in ["/users/", "/users/add/", *_user_urls(member.pk)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_anonymous_post_changes_nothing(client, member):
    before = _snapshot(member)

    for url in _user_urls(member.pk):
        assert client.post(url).status_code == 302

    assert _snapshot(member) == before


def test_action_urls_answer_405_to_get_for_own_users(owner_client, member):
    before = _snapshot(member)

    for action in ["deactivate", "reactivate", "resend-welcome"]:
        assert owner_client.get(f"/users/{member.pk}/{action}/").status_code == 405

    assert _snapshot(member) == before


# --- Adding a user ----------------------------------------------------------------------------


def test_add_page_shows_the_form(owner_client):
    response = owner_client.get("/users/add/")

    assert response.status_code == 200
    assert "temporary password valid for 24 hours" in _page(response)


def test_admin_adds_a_user(owner_client, owner, django_capture_on_commit_callbacks):
    form = {**ADD_FORM, "permissions": ["view_billing"]}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/users/add/", form)

    added = User.objects.get(email="nina@acme.example")
    assert response.status_code == 302
    assert response["Location"] == f"/users/{added.pk}/"
    assert added.organisation == owner.organisation
    assert added.full_name == "Nina New"
    assert added.role == Role.USER
    assert added.granted_permissions == [PortalPermission.VIEW_BILLING]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nina@acme.example"]
    assert "Temporary password: " in mail.outbox[0].body

    page = _page(owner_client.get(response["Location"]))
    assert "Nina New was added and will get a welcome email with a temporary password." in page
    assert "Setting up their account" in page


def test_add_form_ticks_view_invoices_for_a_new_user(owner_client):
    response = owner_client.get("/users/add/")

    html = response.content.decode()
    assert re.search(r'<input[^>]*value="view_billing"[^>]*checked', html)
    assert not re.search(r'<input[^>]*value="manage_whitelist"[^>]*checked', html)
    assert not re.search(r'<input[^>]*value="manage_files"[^>]*checked', html)


def test_new_user_sees_invoices_unless_the_admin_unticks_it(owner_client, owner, django_capture_on_commit_callbacks):
    # The add form's defaults, as the browser posts them: "View invoices" ticked.
    form = owner_client.get("/users/add/").context["form"]
    ticked = form.fields["permissions"].initial
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/users/add/", {**ADD_FORM, "permissions": ticked})
    assert User.objects.get(email="nina@acme.example").granted_permissions == [PortalPermission.VIEW_BILLING]

    # Unticked: the box posts nothing, and the user gets no invoices.
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/users/add/", {**ADD_FORM, "email": "olga@acme.example"})
    assert User.objects.get(email="olga@acme.example").granted_permissions == []


def test_admin_adds_another_admin(owner_client, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/users/add/", {**ADD_FORM, "role": "admin"})

    assert User.objects.get(email="nina@acme.example").role == Role.ADMIN


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({**ADD_FORM, "full_name": ""}, "This field is required."),
        ({**ADD_FORM, "full_name": "   "}, "This field is required."),
        ({**ADD_FORM, "email": "not-an-email"}, "Enter a valid email address."),
        ({**ADD_FORM, "email": ""}, "This field is required."),
        (
            {**ADD_FORM, "email": "Owner@ACME.example"},
            "This email address already belongs to a portal account.",
        ),
        (
            {**ADD_FORM, "role": "superuser"},
            "Select a valid choice. superuser is not one of the available choices.",
        ),
        (
            {**ADD_FORM, "permissions": ["launch_rockets"]},
            "Select a valid choice. launch_rockets is not one of",
        ),
    ],
    ids=[
        "blank-name",
        "whitespace-name",
        "bad-email",
        "no-email",
        "duplicate-email",
        "unknown-role",
        "bad-perm",
    ],
)
def test_invalid_add_form_shows_a_message_and_creates_nothing(
    owner_client, owner, form, message, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/users/add/", form)

    assert response.status_code == 400
    assert message in _page(response)
    assert User.objects.count() == 1
    assert mail.outbox == []


def test_add_page_at_the_limit_explains_instead_of_showing_the_form(owner_client, owner):
    for _ in range(3):
        UserFactory(organisation=owner.organisation)

    response = owner_client.get("/users/add/")

    assert response.status_code == 200
    page = _page(response)
    assert "Acme Payments Ltd already has 4 active users, the most its plan allows." in page
    assert "Deactivate or remove a user first, or ask support to raise the limit." in page
    assert 'name="email"' not in response.content.decode()
    assert "Add user" not in page


def test_add_form_at_the_limit_shows_a_message_and_creates_nothing(
    owner_client, owner, django_capture_on_commit_callbacks
):
    for _ in range(3):
        UserFactory(organisation=owner.organisation)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/users/add/", ADD_FORM)

    assert response.status_code == 400
    assert "Acme Payments Ltd already has 4 active users, the most its plan allows." in _page(response)
    assert not User.objects.filter(email="nina@acme.example").exists()
    assert User.objects.count() == 4
    assert mail.outbox == []


# --- The detail page: role and permissions ----------------------------------------------------


def test_detail_shows_the_user(owner_client, member):
    response = owner_client.get(f"/users/{member.pk}/")

    assert response.status_code == 200
    page = _page(response)
    assert "Max Member" in page
    assert "member@acme.example" in page
    assert "Deactivate" in page
    # Onboarded user: nothing to resend.
    assert "Resend welcome email" not in page


def test_admin_grants_permissions(owner_client, member):
    response = owner_client.post(
        f"/users/{member.pk}/", {"role": "user", "permissions": ["manage_whitelist", "manage_files"]}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/users/{member.pk}/"
    member = User.objects.get(pk=member.pk)
    assert member.has_portal_permission(PortalPermission.MANAGE_WHITELIST)
    assert member.has_portal_permission(PortalPermission.MANAGE_FILES)
    assert not member.has_portal_permission(PortalPermission.VIEW_BILLING)
    page = _page(owner_client.get(response["Location"]))
    assert "Max Member&#x27;s role and permissions are saved." in page


def test_permissions_show_in_the_list(owner_client, member):
    owner_client.post(f"/users/{member.pk}/", {"role": "user", "permissions": ["view_billing"]})

    assert "View invoices" in _page(owner_client.get("/users/"))


def test_admin_promotes_a_member_to_admin(owner_client, member):
    owner_client.post(f"/users/{member.pk}/", {"role": "admin"})

    assert User.objects.get(pk=member.pk).role == Role.ADMIN


def test_admin_demotes_another_admin(owner_client, owner):
    other_admin = AdminFactory(organisation=owner.organisation)

    response = owner_client.post(f"/users/{other_admin.pk}/", {"role": "user", "permissions": ["view_billing"]})

    assert response.status_code == 302
    demoted = User.objects.get(pk=other_admin.pk)
    assert demoted.role == Role.USER
    assert demoted.granted_permissions == [PortalPermission.VIEW_BILLING]


def test_last_admin_cannot_demote_themselves(owner_client, owner):
    response = owner_client.post(f"/users/{owner.pk}/", {"role": "user"})

    assert response.status_code == 400
    assert "Olivia Owner is the organisation&#x27;s only active admin." in _page(response)
    assert User.objects.get(pk=owner.pk).role == Role.ADMIN


def test_unknown_role_on_the_detail_page_changes_nothing(owner_client, member):
    response = owner_client.post(f"/users/{member.pk}/", {"role": "owner", "permissions": ["view_billing"]})

    assert response.status_code == 400
    assert "Select a valid choice." in _page(response)
    member = User.objects.get(pk=member.pk)
    assert member.role == Role.USER
    assert member.granted_permissions == []


def test_admin_sees_no_account_actions_on_their_own_page(owner_client, owner):
    page = _page(owner_client.get(f"/users/{owner.pk}/"))

    assert "Deactivate" not in page
    assert "Remove…" not in page


# --- Deactivate, reactivate, resend -----------------------------------------------------------


def test_admin_deactivates_a_member(owner_client, member):
    response = owner_client.post(f"/users/{member.pk}/deactivate/", follow=True)

    assert response.redirect_chain == [(f"/users/{member.pk}/", 302)]
    assert "Max Member is deactivated and can no longer log in." in _page(response)
    assert "Reactivate" in _page(response)
    assert User.objects.get(pk=member.pk).is_active is False


def test_admin_reactivates_a_member(owner_client, owner, member):
    owner_client.post(f"/users/{member.pk}/deactivate/")

    response = owner_client.post(f"/users/{member.pk}/reactivate/", follow=True)

    assert "Max Member is active again." in _page(response)
    assert User.objects.get(pk=member.pk).is_active is True


def test_reactivation_at_the_limit_shows_a_message(owner_client, owner, member):
    owner_client.post(f"/users/{member.pk}/deactivate/")
    for _ in range(3):
        UserFactory(organisation=owner.organisation)

    response = owner_client.post(f"/users/{member.pk}/reactivate/", follow=True)

    assert "already has 4 active users" in _page(response)
    assert User.objects.get(pk=member.pk).is_active is False


def test_admin_cannot_deactivate_themselves_through_the_page(owner_client, owner):
    AdminFactory(organisation=owner.organisation)

    response = owner_client.post(f"/users/{owner.pk}/deactivate/", follow=True)

    assert "You cannot deactivate your own account." in _page(response)
    assert User.objects.get(pk=owner.pk).is_active is True


def test_admin_resends_the_welcome_email(owner_client, owner, django_capture_on_commit_callbacks):
    newcomer = NewUserFactory(organisation=owner.organisation, full_name="Nina New")
    assert "Resend welcome email" in _page(owner_client.get(f"/users/{newcomer.pk}/"))

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/users/{newcomer.pk}/resend-welcome/", follow=True)

    assert "A new welcome email with a fresh temporary password is on its way to Nina New." in _page(response)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [newcomer.email]


def test_resend_for_a_user_with_a_password_shows_a_message(owner_client, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/users/{member.pk}/resend-welcome/", follow=True)

    assert "This user has already chosen a password" in _page(response)
    assert mail.outbox == []


# --- Remove -----------------------------------------------------------------------------------


def test_remove_asks_for_confirmation_first(owner_client, member):
    response = owner_client.get(f"/users/{member.pk}/remove/")

    assert response.status_code == 200
    assert "Remove Max Member?" in _page(response)
    assert User.objects.filter(pk=member.pk).exists()


def test_admin_removes_a_member(owner_client, member):
    response = owner_client.post(f"/users/{member.pk}/remove/", follow=True)

    assert response.redirect_chain == [("/users/", 302)]
    assert "Max Member was removed." in _page(response)
    assert not User.objects.filter(pk=member.pk).exists()
    assert not TOTPDevice.objects.filter(user_id=member.pk).exists()
    assert not Token.objects.filter(user_id=member.pk).exists()


def test_admin_cannot_remove_themselves_through_the_page(owner_client, owner):
    AdminFactory(organisation=owner.organisation)

    response = owner_client.post(f"/users/{owner.pk}/remove/", follow=True)

    assert "You cannot remove your own account." in _page(response)
    assert User.objects.filter(pk=owner.pk).exists()


def test_member_with_a_change_request_on_record_cannot_be_removed_but_can_be_deactivated(owner_client, owner, member):
    CompanyDetailsChangeRequest.objects.create(
        organisation=owner.organisation, requested_by=member, name="Acme Group Ltd"
    )

    response = owner_client.post(f"/users/{member.pk}/remove/", follow=True)

    assert response.redirect_chain == [(f"/users/{member.pk}/", 302)]
    assert "Max Member has requests with support on record" in _page(response)
    assert "Deactivate it instead." in _page(response)
    assert User.objects.filter(pk=member.pk).exists()
    assert TOTPDevice.objects.filter(user=member).exists()
    assert Token.objects.filter(user=member).exists()

    owner_client.post(f"/users/{member.pk}/deactivate/")
    assert User.objects.get(pk=member.pk).is_active is False
