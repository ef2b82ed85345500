"""Publishing an invoice shows it in the portal and emails the people who can view billing."""

from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from billing import services
from billing.models import Invoice, Status
from tests.billing.helpers import grant_billing, make_invoice
from tests.factories import AdminFactory, UserFactory


@pytest.fixture
def draft(organisation) -> Invoice:
    return make_invoice(organisation, number="INV-2025-002", status=Status.DRAFT, tax_rate=Decimal("20"))


def _recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_publishing_emails_only_the_users_who_can_view_billing(
    draft, owner, member, outsider, support, organisation, django_capture_on_commit_callbacks
):
    accountant = grant_billing(UserFactory.create(organisation=organisation, email="acc@acme.example"))
    AdminFactory.create(organisation=organisation, email="gone@acme.example", is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        services.publish(invoice=draft, acting_user=support)

    # The admin and the user granted billing; not the plain member, the deactivated admin, nor
    # another organisation's admin.
    assert _recipients() == ["acc@acme.example", "owner@acme.example"]
    assert member.email not in _recipients()
    message = mail.outbox[0]
    assert message.subject == "New invoice INV-2025-002 for Acme Payments Ltd"
    assert f"/billing/{draft.pk}/" in message.body
    assert "EUR 1,188.00" in message.body  # (490 + 500) + 20 % tax
    assert accountant.has_perm("accounts.view_billing")


def test_publishing_emails_after_commit_only(draft, owner, support, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.publish(invoice=draft, acting_user=support)
        assert mail.outbox == []

    for callback in callbacks:
        callback()
    assert _recipients() == [owner.email]


def test_publishing_issues_the_draft_and_records_who_did_it(draft, support, organisation):
    services.publish(invoice=draft, acting_user=support)

    draft.refresh_from_db()
    assert draft.status == Status.ISSUED
    assert draft.published_at is not None
    event = AuditEvent.objects.get(action="invoice.published")
    assert (event.actor, event.organisation, event.target_label) == (support, organisation, "Invoice INV-2025-002")
    assert event.details == {"total": "1188.00", "currency": "EUR"}


def test_an_invoice_is_published_once(draft, owner, support, django_capture_on_commit_callbacks):
    services.publish(invoice=draft, acting_user=support)
    mail.outbox.clear()

    with pytest.raises(ValidationError) as caught, django_capture_on_commit_callbacks(execute=True):
        services.publish(invoice=Invoice.objects.get(pk=draft.pk), acting_user=support)

    assert caught.value.messages == ["Invoice INV-2025-002 is already issued."]
    assert mail.outbox == []
    assert AuditEvent.objects.filter(action="invoice.published").count() == 1


def test_an_invoice_without_lines_is_not_published(organisation, owner, support, django_capture_on_commit_callbacks):
    empty = make_invoice(organisation, number="INV-EMPTY", status=Status.DRAFT, lines=[])

    with pytest.raises(ValidationError) as caught, django_capture_on_commit_callbacks(execute=True):
        services.publish(invoice=empty, acting_user=support)

    assert caught.value.messages == ["Invoice INV-EMPTY has no lines: add at least one before publishing."]
    empty.refresh_from_db()
    assert (empty.status, empty.published_at) == (Status.DRAFT, None)
    assert mail.outbox == []


def test_a_void_draft_cannot_be_published(organisation, support):
    voided = make_invoice(organisation, number="INV-V", status=Status.VOID)

    with pytest.raises(ValidationError, match="already void"):
        services.publish(invoice=voided, acting_user=support)


@pytest.mark.parametrize(
    ("start", "target", "message"),
    [
        (
            Status.ISSUED,
            Status.DRAFT,
            "A published invoice cannot go back to draft. Void it and issue a new one instead.",
        ),
        (Status.VOID, Status.PAID, "A void invoice cannot become paid."),
    ],
)
def test_status_changes_that_make_no_sense_are_refused(organisation, support, start, target, message):
    invoice = make_invoice(organisation, status=start)

    with pytest.raises(ValidationError) as caught:
        services.change_status(invoice=invoice, status=target, acting_user=support)

    assert caught.value.messages == [message]
    invoice.refresh_from_db()
    assert invoice.status == start


def test_marking_paid_is_recorded(organisation, support):
    invoice = make_invoice(organisation, status=Status.OVERDUE)

    services.change_status(invoice=invoice, status=Status.PAID, acting_user=support)

    assert Invoice.objects.get(pk=invoice.pk).status == Status.PAID
    event = AuditEvent.objects.get(action="invoice.status_changed")
    assert event.details == {"previous": "overdue", "status": "paid"}
