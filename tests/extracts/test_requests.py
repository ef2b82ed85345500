"""Requesting an extract: admins only, and never two at once for the same organisation."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connections, transaction

from accounts.models import User
from audit.models import AuditEvent
from extracts import services
from extracts.models import ExtractRequest, Kind, Status
from tests.extracts.conftest import BOTH_DATABASES, give_tokens
from tests.factories import AdminFactory, OrganisationFactory
from tests.race import race

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


def test_admin_request_is_queued_audited_and_sent_to_a_worker_after_commit(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        extract = services.request_extract(acting_user=owner)

    assert len(callbacks) == 1
    extract.refresh_from_db()
    assert (extract.status, extract.kind, extract.requested_by) == (Status.QUEUED, Kind.ONE_OFF, owner)
    event = AuditEvent.objects.get(action="extract.requested")
    assert (event.actor, event.organisation) == (owner, owner.organisation)
    assert event.target_label == f"Token extract #{extract.pk} (one-off)"


def test_second_request_while_the_first_is_queued_is_refused(owner, django_capture_on_commit_callbacks):
    colleague = AdminFactory(organisation=owner.organisation, full_name="Ada Admin")
    with (
        time_machine.travel(dt.datetime(2026, 12, 3, 9, 5, tzinfo=dt.UTC), tick=False),
        django_capture_on_commit_callbacks(),
    ):
        services.request_extract(acting_user=owner)

    with pytest.raises(ValidationError) as refused:
        services.request_extract(acting_user=colleague)

    assert refused.value.code == "already_active"
    message = refused.value.messages[0]
    assert message == (
        "A token extract for Acme Payments Ltd is already queued (requested 3 Dec 2026, 09:05 by Olivia Owner). "
        "Wait until it has finished before requesting another."
    )
    assert ExtractRequest.objects.count() == 1
    assert AuditEvent.objects.filter(action="extract.requested").count() == 1


def test_request_while_one_is_running_is_refused(owner):
    ExtractRequest.objects.create(organisation=owner.organisation, status=Status.RUNNING)

    with pytest.raises(ValidationError, match="is already running"):
        services.request_extract(acting_user=owner)


def test_new_request_is_accepted_once_the_last_one_is_done(owner, vault_table, django_capture_on_commit_callbacks):
    give_tokens(owner.organisation, 3)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_extract(acting_user=owner)

    with django_capture_on_commit_callbacks(execute=True):
        second = services.request_extract(acting_user=owner)

    second.refresh_from_db()
    assert second.status == Status.DONE
    assert ExtractRequest.objects.filter(status=Status.DONE).count() == 2


def test_other_organisations_extract_does_not_block_a_request(owner, outsider):
    ExtractRequest.objects.create(organisation=outsider.organisation, status=Status.RUNNING)

    assert services.request_extract(acting_user=owner).status == Status.QUEUED


def test_member_cannot_request_an_extract(member):
    with pytest.raises(PermissionDenied, match="Only your organisation's admins"):
        services.request_extract(acting_user=member)

    assert not ExtractRequest.objects.exists()


def test_database_refuses_a_second_active_extract_of_an_organisation(owner):
    ExtractRequest.objects.create(organisation=owner.organisation, status=Status.QUEUED)

    with pytest.raises(IntegrityError), transaction.atomic():
        ExtractRequest.objects.create(organisation=owner.organisation, status=Status.RUNNING)
    ExtractRequest.objects.create(organisation=owner.organisation, status=Status.DONE)
    ExtractRequest.objects.create(organisation=owner.organisation, status=Status.FAILED)

    assert ExtractRequest.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
def test_two_admins_requesting_at_the_same_moment_start_one_extract(vault_table):
    organisation = OrganisationFactory(name="Race Ltd")
    admins = [AdminFactory(organisation=organisation) for _ in range(2)]
    give_tokens(organisation, 2000)  # enough that the winner's extract is still active when the loser asks

    def request(admin: User) -> ExtractRequest:
        try:
            return services.request_extract(acting_user=admin)
        finally:
            connections["vault"].close()  # the winner's thread runs the extract on its own vault connection

    started, errors = race([lambda admin=admin: request(admin) for admin in admins])

    assert len(started) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError) and errors[0].code == "already_active", errors
    assert ExtractRequest.objects.filter(organisation=organisation).count() == 1
    assert AuditEvent.objects.filter(action="extract.requested", organisation=organisation).count() == 1
