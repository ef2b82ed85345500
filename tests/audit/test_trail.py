"""Each security-relevant action writes exactly one audit row with the right actor and target."""

import pytest
from django.contrib.admin.sites import site

from accounts import services
from accounts.models import Role
from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory


def rows(action):
    return list(AuditEvent.objects.filter(action=action))


def test_adding_a_user_is_recorded_once_with_actor_target_and_organisation(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        added = services.add_user(
            organisation=owner.organisation,
            email="new@acme.example",
            full_name="New",
            role=Role.USER,
            acting_user=owner,
        )

    (event,) = rows("user.added")
    assert (event.actor, event.subject_user, event.organisation) == (owner, added, owner.organisation)
    assert event.target_label == "new@acme.example"


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("user.deactivated", lambda owner, member: services.deactivate_user(user=member, acting_user=owner)),
        ("user.factors_reset", lambda owner, member: services.reset_second_factors(user=member, acting_user=owner)),
        (
            "user.role_changed",
            lambda owner, member: services.change_role_and_permissions(
                user=member, role=Role.ADMIN, permissions=[], acting_user=owner
            ),
        ),
        ("user.removed", lambda owner, member: services.remove_user(user=member, acting_user=owner)),
    ],
)
def test_user_changes_are_recorded_once(owner, member, action, call):
    call(owner, member)

    (event,) = rows(action)
    assert event.actor == owner
    assert event.target_label == member.email
    assert event.organisation == owner.organisation


def test_last_admin_refusal_leaves_no_row(owner, member):
    with pytest.raises(Exception, match="only active admin"):
        services.change_role_and_permissions(user=owner, role=Role.USER, permissions=[], acting_user=member)
    assert rows("user.role_changed") == []


def test_failed_login_is_recorded_without_the_password(client, member):
    client.post("/login/", {"username": member.email, "password": "wrong-password-123"}, REMOTE_ADDR="198.51.100.7")

    (event,) = rows("login.failed")
    assert event.target_label == member.email
    assert event.organisation == member.organisation
    assert event.ip_address == "198.51.100.7"
    assert "wrong-password-123" not in str(event.details)


def test_failed_login_for_an_unknown_email_is_recorded_without_an_organisation(client, db):
    client.post("/login/", {"username": "nobody@nowhere.example", "password": PASSWORD})

    (event,) = rows("login.failed")
    assert event.organisation is None
    assert event.target_label == "nobody@nowhere.example"


def test_support_cannot_add_change_or_delete_audit_rows(rf, owner):
    from accounts.services import mark_organisation_verified

    mark_organisation_verified(organisation=owner.organisation, verified=True, acting_user=owner)
    model_admin = site._registry[AuditEvent]
    request = rf.get("/admin/audit/auditevent/")
    request.user = UserFactory(organisation=None, is_staff=True, is_superuser=True)
    event = AuditEvent.objects.get(action="organisation.verified")

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
