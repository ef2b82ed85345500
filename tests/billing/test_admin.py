"""Support/finance issue invoices in the admin: lines inline, totals shown, publish, status, PDF."""

from collections.abc import Sequence
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from billing.models import Invoice, InvoiceLine, Status
from tests.billing.helpers import PDF_BYTES, make_invoice
from tests.conftest import page_text as _page

ADD_URL = "/admin/billing/invoice/"


def _lines(rows: list[tuple[str, str, str]], *, existing: Sequence[InvoiceLine] = ()) -> dict[str, str]:
    data = {
        "lines-TOTAL_FORMS": str(len(existing) + len(rows)),
        "lines-INITIAL_FORMS": str(len(existing)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for i, line in enumerate(existing):
        data |= {
            f"lines-{i}-id": str(line.pk),
            f"lines-{i}-position": str(line.position),
            f"lines-{i}-description": line.description,
            f"lines-{i}-quantity": str(line.quantity),
            f"lines-{i}-unit_price": str(line.unit_price),
        }
    for i, (description, quantity, price) in enumerate(rows, start=len(existing)):
        data |= {
            f"lines-{i}-position": str(i),
            f"lines-{i}-description": description,
            f"lines-{i}-quantity": quantity,
            f"lines-{i}-unit_price": price,
        }
    return data


def _invoice_form(organisation, **changes: object) -> dict[str, object]:
    return {
        "organisation": str(organisation.pk),
        "number": "INV-2025-010",
        "status": "draft",
        "issue_date": "2025-03-01",
        "due_date": "2025-03-31",
        "period_start": "2025-02-01",
        "period_end": "2025-02-28",
        "currency": "eur",
        "tax_rate": "20",
        "notes": "",
        **changes,
    }


def _add(support_client, organisation, rows, **changes):
    return support_client.post(
        f"{ADD_URL}add/", {**_invoice_form(organisation, **changes), **_lines(rows)}, follow=True
    )


# --- Creating ---------------------------------------------------------------------------------------


def test_support_creates_a_draft_with_lines_and_sees_its_totals(support_client, organisation):
    response = _add(
        support_client,
        organisation,
        [("Platform subscription", "1", "490"), ("Vault storage (GB-months)", "12.375", "0.85")],
    )

    assert "was added successfully" in _page(response)
    invoice = Invoice.objects.get()
    assert (invoice.number, invoice.status, invoice.currency, invoice.published_at) == (
        "INV-2025-010",
        Status.DRAFT,
        "EUR",
        None,
    )
    assert [(line.description, line.quantity) for line in invoice.lines.all()] == [
        ("Platform subscription", Decimal("1")),
        ("Vault storage (GB-months)", Decimal("12.375")),
    ]
    page = _page(support_client.get(f"{ADD_URL}{invoice.pk}/change/"))
    assert "EUR 500.52" in page  # subtotal
    assert "EUR 100.10" in page  # tax
    assert "EUR 600.62" in page  # total
    assert mail.outbox == []  # a draft tells nobody


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"due_date": "2025-02-01"}, "The due date cannot be before the issue date."),
        ({"period_end": "2025-01-31"}, "The service period cannot end before it starts."),
        ({"currency": "E1R"}, "Enter a three-letter ISO 4217 currency code, such as EUR, GBP or USD."),
        ({"status": "issued"}, "Use the “Publish” action to issue a draft"),
        ({"status": "paid"}, "A draft invoice cannot become paid."),
    ],
)
def test_invoice_that_makes_no_sense_is_refused_with_a_reason(support_client, organisation, changes, message):
    response = _add(support_client, organisation, [("Platform subscription", "1", "490")], **changes)

    assert _page(response).count(message) == 1
    assert not Invoice.objects.exists()
    assert not InvoiceLine.objects.exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("Calls", "0", "1"), "The quantity must be more than zero."),
        (("Credit", "1", "-5"), "The unit price cannot be negative."),
    ],
)
def test_bad_line_is_refused_with_a_reason(support_client, organisation, row, message):
    response = _add(support_client, organisation, [row])

    assert message in _page(response)
    assert not Invoice.objects.exists()


def test_duplicate_number_in_the_organisation_is_refused(support_client, organisation):
    make_invoice(organisation, number="INV-2025-010")

    response = _add(support_client, organisation, [("Platform subscription", "1", "490")])

    assert "This organisation already has an invoice with this number." in _page(response)
    assert Invoice.objects.count() == 1


# --- Publishing --------------------------------------------------------------------------------------


def test_publish_action_issues_drafts_and_emails_the_customers(
    support_client, support, organisation, owner, django_capture_on_commit_callbacks
):
    draft = make_invoice(organisation, number="INV-2025-010", status=Status.DRAFT)
    issued = make_invoice(organisation, number="INV-2025-009")

    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            ADD_URL, {"action": "publish_selected", "_selected_action": [draft.pk, issued.pk]}, follow=True
        )

    page = _page(response)
    assert "Published 1 invoice;" in page
    assert "Invoice INV-2025-009 is already issued." in page
    draft.refresh_from_db()
    assert draft.status == Status.ISSUED
    assert [message.to for message in mail.outbox] == [[owner.email]]
    assert AuditEvent.objects.get(action="invoice.published").actor == support


def test_lines_and_amounts_are_read_only_once_published(support_client, organisation):
    invoice = make_invoice(organisation, number="INV-2025-010", lines=[("Platform subscription", "1", "490")])
    [line] = invoice.lines.all()

    page = _page(support_client.get(f"{ADD_URL}{invoice.pk}/change/"))
    assert "Platform subscription" in page  # shown, not editable
    assert 'name="lines-0-quantity"' not in page
    assert 'name="number"' not in page
    assert 'name="status"' in page  # status still changes: paid, overdue, void

    tampered = {
        **_invoice_form(organisation, number="INV-CHANGED", tax_rate="50", status="issued"),
        **_lines([("Free money", "1", "1000")], existing=[line]),
        "lines-0-quantity": "100",
    }
    support_client.post(f"{ADD_URL}{invoice.pk}/change/", tampered)

    invoice.refresh_from_db()
    assert (invoice.number, invoice.tax_rate) == ("INV-2025-010", Decimal("0.00"))
    assert [(x.description, x.quantity) for x in invoice.lines.all()] == [("Platform subscription", Decimal("1"))]


def test_published_invoice_cannot_be_deleted(support_client, organisation):
    invoice = make_invoice(organisation)

    assert support_client.get(f"{ADD_URL}{invoice.pk}/delete/").status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_draft_can_be_deleted(support_client, organisation):
    draft = make_invoice(organisation, status=Status.DRAFT)

    support_client.post(f"{ADD_URL}{draft.pk}/delete/", {"post": "yes"})

    assert not Invoice.objects.exists()


# --- Status and PDF ------------------------------------------------------------------------------------


def _change(support_client, invoice: Invoice, **changes: object):
    data = {"status": invoice.status, **_lines([], existing=list(invoice.lines.all())), **changes}
    data = {key: value for key, value in data.items() if not key.startswith("lines-0")}
    data["lines-TOTAL_FORMS"] = data["lines-INITIAL_FORMS"] = "0"
    return support_client.post(f"{ADD_URL}{invoice.pk}/change/", data, follow=True)


def test_support_marks_an_invoice_paid_and_it_is_recorded(support_client, support, organisation):
    invoice = make_invoice(organisation, status=Status.OVERDUE)

    response = _change(support_client, invoice, status="paid")

    assert "was changed successfully" in _page(response)
    assert Invoice.objects.get(pk=invoice.pk).status == Status.PAID
    event = AuditEvent.objects.get(action="invoice.status_changed")
    assert (event.actor, event.details) == (support, {"previous": "overdue", "status": "paid"})


def test_published_invoice_cannot_go_back_to_draft(support_client, organisation):
    invoice = make_invoice(organisation)

    response = _change(support_client, invoice, status="draft")

    assert "A published invoice cannot go back to draft." in _page(response)
    assert Invoice.objects.get(pk=invoice.pk).status == Status.ISSUED


def test_support_attaches_a_pdf_that_customers_download(support_client, owner_client, organisation):
    invoice = make_invoice(organisation)

    _change(support_client, invoice, pdf=SimpleUploadedFile("final.pdf", PDF_BYTES))

    response = owner_client.get(f"/billing/{invoice.pk}/pdf/")
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert AuditEvent.objects.filter(action="file.uploaded", target_label="Invoice INV-2025-001 (PDF)").exists()


def test_attachment_that_is_not_a_pdf_is_refused(support_client, organisation):
    invoice = make_invoice(organisation)

    response = _change(
        support_client,
        invoice,
        pdf=SimpleUploadedFile("invoice.pdf", b"just text pretending", content_type="application/pdf"),
    )

    assert "This type of file is not accepted (judged from its content). Accepted: PDF." in _page(response)
    invoice.refresh_from_db()
    assert not invoice.pdf


def test_an_oversized_pdf_is_refused_with_a_message_not_dropped(support_client, organisation, settings):
    """The upload limit stops the file while it streams in (files/upload_handlers.py); the form says so
    instead of saving the invoice without it and reporting success."""
    settings.FILES_MAX_UPLOAD_BYTES = 1_048_576
    invoice = make_invoice(organisation)

    response = _change(support_client, invoice, pdf=SimpleUploadedFile("final.pdf", PDF_BYTES + b"0" * 1_048_576))

    page = _page(response)
    assert "“final.pdf” is too big: files may be at most 1 MB." in page
    assert "was changed successfully" not in page
    invoice.refresh_from_db()
    assert not invoice.pdf
    assert not AuditEvent.objects.filter(action="file.uploaded").exists()


def test_support_previews_a_drafts_pdf_without_it_being_kept(support_client, organisation):
    draft = make_invoice(organisation, number="INV-DRAFT-1", status=Status.DRAFT)

    response = support_client.get(f"{ADD_URL}{draft.pk}/pdf/")

    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert response["Content-Disposition"] == 'attachment; filename="invoice-INV-DRAFT-1.pdf"'
    draft.refresh_from_db()
    assert not draft.generated_pdf


def test_customers_cannot_open_the_admin_preview(owner_client, organisation):
    invoice = make_invoice(organisation)

    response = owner_client.get(f"{ADD_URL}{invoice.pk}/pdf/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_invoice_list_shows_totals_and_statuses(support_client, organisation):
    make_invoice(organisation, number="INV-2025-001")
    make_invoice(organisation, number="INV-2025-002", status=Status.DRAFT, tax_rate=Decimal("20"))

    page = _page(support_client.get(ADD_URL))

    assert "INV-2025-001" in page
    assert "EUR 990.00" in page
    assert "EUR 1,188.00" in page
    assert "Draft" in page


def test_mark_paid_action_skips_what_cannot_be_paid(support_client, organisation):
    overdue = make_invoice(organisation, number="INV-LATE", status=Status.OVERDUE)
    draft = make_invoice(organisation, number="INV-DRAFT", status=Status.DRAFT)

    response = support_client.post(
        ADD_URL, {"action": "mark_paid", "_selected_action": [overdue.pk, draft.pk]}, follow=True
    )

    page = _page(response)
    assert "Marked 1 invoice paid." in page
    assert "Invoice INV-DRAFT: A draft invoice cannot become paid." in page
    assert Invoice.objects.get(pk=overdue.pk).status == Status.PAID
    assert Invoice.objects.get(pk=draft.pk).status == Status.DRAFT
