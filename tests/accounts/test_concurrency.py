"""The organisation rules hold when requests race (SPEC §2: enforced in the database transaction).

Each thread has its own database connection, so these run against PostgreSQL's real row locks;
SQLite serialises all writers and would prove nothing.
"""

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import Organisation, Role, User
from tests.factories import AdminFactory, OrganisationFactory
from tests.race import race

pytestmark = pytest.mark.postgres


def test_concurrent_invitations_never_exceed_the_user_limit(transactional_db):
    organisation = OrganisationFactory(name="Race Ltd", user_limit=4)
    owner = AdminFactory(organisation=organisation)

    def invite(n: int) -> Callable[[], User]:
        return lambda: services.add_user(
            organisation=organisation,
            email=f"racer{n}@race.example",
            full_name=f"Racer {n}",
            role=Role.USER,
            acting_user=owner,
        )

    added, errors = race([invite(n) for n in range(6)])

    assert len(added) == 3
    assert len(errors) == 3
    assert all(isinstance(exc, ValidationError) for exc in errors), errors
    assert all(exc.code == "user_limit" for exc in errors)
    assert all("Race Ltd already has 4 active users, the most its plan allows." in exc.messages[0] for exc in errors)
    assert User.objects.filter(organisation=organisation).count() == 4
    assert User.objects.filter(organisation=organisation, is_active=True).count() == 4


def test_concurrent_invitations_of_the_same_address_create_one_user(transactional_db):
    organisation = OrganisationFactory(user_limit=10)
    owner = AdminFactory(organisation=organisation)

    def invite(spelling: str) -> Callable[[], User]:
        return lambda: services.add_user(
            organisation=organisation, email=spelling, full_name="Twin", role=Role.USER, acting_user=owner
        )

    added, errors = race([invite(s) for s in ["twin@race.example", "TWIN@race.example", "Twin@Race.example"]])

    assert len(added) == 1
    assert len(errors) == 2
    assert all(isinstance(exc, ValidationError) for exc in errors), errors
    assert all(
        exc.message_dict == {"email": ["This email address already belongs to a portal account."]} for exc in errors
    )
    assert User.objects.filter(email__iexact="twin@race.example").count() == 1


def test_two_admins_demoting_each_other_at_once_leave_one_admin(transactional_db):
    organisation = OrganisationFactory()
    first = AdminFactory(organisation=organisation)
    second = AdminFactory(organisation=organisation)

    def demote(user: User, acting_user: User) -> Callable[[], User]:
        return lambda: services.change_role_and_permissions(
            user=User.objects.get(pk=user.pk), role=Role.USER, permissions=[], acting_user=acting_user
        )

    done, errors = race([demote(first, second), demote(second, first)])

    assert len(done) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError)
    assert errors[0].code == "last_admin"
    assert User.objects.filter(organisation=organisation, role=Role.ADMIN, is_active=True).count() == 1


def test_two_admins_deactivating_each_other_at_once_leave_one_active_admin(transactional_db):
    organisation = OrganisationFactory()
    first = AdminFactory(organisation=organisation)
    second = AdminFactory(organisation=organisation)

    def deactivate(user: User, acting_user: User) -> Callable[[], User]:
        return lambda: services.deactivate_user(user=User.objects.get(pk=user.pk), acting_user=acting_user)

    done, errors = race([deactivate(first, second), deactivate(second, first)])

    assert len(done) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError)
    assert errors[0].code == "last_admin"
    assert User.objects.filter(organisation=organisation, role=Role.ADMIN, is_active=True).count() == 1


def test_reactivation_racing_an_invitation_keeps_the_limit(transactional_db):
    organisation = OrganisationFactory(user_limit=2)
    owner = AdminFactory(organisation=organisation)
    sleeper = AdminFactory(organisation=organisation, role=Role.USER, is_active=False)

    done, errors = race(
        [
            lambda: services.reactivate_user(user=User.objects.get(pk=sleeper.pk), acting_user=owner),
            lambda: services.add_user(
                organisation=organisation,
                email="late@race.example",
                full_name="Late",
                role=Role.USER,
                acting_user=owner,
            ),
        ]
    )

    assert len(done) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError)
    assert errors[0].code == "user_limit"
    assert Organisation.objects.get(pk=organisation.pk).users.filter(is_active=True).count() == 2
