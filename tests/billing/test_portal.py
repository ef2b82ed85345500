"""The Billing pages: who sees them, what they list, and what they never show."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from billing.models import Invoice, InvoiceLine, Status
from tests.billing.helpers import grant_billing, make_invoice
from tests.conftest import log_in
from tests.conftest import page_text as _page


@pytest.fixture
def invoice(organisation) -> Invoice:
    return make_invoice(
        organisation,
        number="INV-2025-002",
        tax_rate=Decimal("20"),
        lines=[("Platform subscription", "1", "490.00"), ("Vault storage (GB-months)", "12.375", "0.85")],
    )


@pytest.fixture
def viewer(member) -> User:
    """The plain member, granted billing by an admin."""
    return grant_billing(member)


@pytest.fixture
def viewer_client(client, viewer):
    return log_in(client, viewer)


def _urls(invoice: Invoice) -> list[str]:
    return ["/billing/", f"/billing/{invoice.pk}/", f"/billing/{invoice.pk}/pdf/"]


def _listed(response) -> list[str]:
    return [invoice.number for invoice in response.context["invoices"]]


# --- Who may see billing ---------------------------------------------------------------------------


def test_user_without_billing_permission_gets_403_on_every_billing_url(member_client, invoice):
    for url in _urls(invoice):
        response = member_client.get(url)
        assert response.status_code == 403, url
        assert "users they allow to view billing" in _page(response)
    assert not AuditEvent.objects.filter(action="file.downloaded").exists()


def test_user_without_billing_permission_has_no_billing_tab(member_client):
    page = _page(member_client.get("/"))

    assert 'href="/billing/"' not in page


@pytest.mark.parametrize("who", ["owner", "viewer"])
def test_admins_and_granted_users_have_the_billing_tab(client, who, request):
    page = _page(log_in(client, request.getfixturevalue(who)).get("/"))

    assert 'href="/billing/"' in page


@pytest.mark.parametrize("who", ["owner", "viewer"])
def test_admins_and_granted_users_open_list_detail_and_pdf(client, who, request, invoice):
    signed_in = log_in(client, request.getfixturevalue(who))

    for url in _urls(invoice):
        assert signed_in.get(url).status_code == 200, url


def test_another_organisations_invoice_is_404_on_every_url(outsider_client, invoice):
    for url in _urls(invoice)[1:]:
        assert outsider_client.get(url).status_code == 404, url
    assert "INV-2025-002" not in _page(outsider_client.get("/billing/"))


def test_missing_invoice_is_404(owner_client):
    assert owner_client.get("/billing/999999/").status_code == 404
    assert owner_client.get("/billing/999999/pdf/").status_code == 404


def test_drafts_and_unpublished_void_invoices_are_never_shown(owner_client, organisation, invoice):
    draft = make_invoice(organisation, number="INV-DRAFT", status=Status.DRAFT)
    voided = make_invoice(organisation, number="INV-VOIDED", status=Status.VOID)

    page = _page(owner_client.get("/billing/"))
    assert "INV-2025-002" in page
    assert "INV-DRAFT" not in page
    assert "INV-VOIDED" not in page
    for hidden in (draft, voided):
        for url in _urls(hidden)[1:]:
            assert owner_client.get(url).status_code == 404, url


def test_a_published_invoice_voided_later_stays_listed_as_void(owner_client, organisation):
    make_invoice(organisation, number="INV-CANCELLED", status=Status.VOID, published_at=timezone.now())

    response = owner_client.get("/billing/")

    assert _listed(response) == ["INV-CANCELLED"]
    assert "Void" in _page(response)


# --- The list ---------------------------------------------------------------------------------------


def test_list_is_newest_first_with_totals(viewer_client, organisation):
    make_invoice(organisation, number="INV-A", issue_date=datetime.date(2024, 11, 1))
    make_invoice(organisation, number="INV-C", issue_date=datetime.date(2025, 1, 1))
    make_invoice(organisation, number="INV-B", issue_date=datetime.date(2024, 12, 1), currency="GBP")

    response = viewer_client.get("/billing/")

    assert _listed(response) == ["INV-C", "INV-B", "INV-A"]
    assert "GBP 990.00" in _page(response)


@pytest.fixture
def history(organisation) -> None:
    """Monthly invoices from January 2020 to December 2024, as support issued them."""
    for year in range(2020, 2025):
        for month in range(1, 13):
            status = Status.OVERDUE if (year, month) == (2024, 6) else Status.PAID
            make_invoice(
                organisation, number=f"INV-{year}-{month:02d}", issue_date=datetime.date(year, month, 1), status=status
            )


def test_year_filter_shows_that_years_invoices(owner_client, history):
    response = owner_client.get("/billing/", {"year": "2020"})

    assert _listed(response) == [f"INV-2020-{month:02d}" for month in range(12, 0, -1)]
    assert response.context["form"].fields["year"].choices[1:] == [
        (2024, "2024"),
        (2023, "2023"),
        (2022, "2022"),
        (2021, "2021"),
        (2020, "2020"),
    ]


def test_status_filter_and_year_filter_combine(owner_client, history):
    assert _listed(owner_client.get("/billing/", {"status": "overdue"})) == ["INV-2024-06"]
    assert _listed(owner_client.get("/billing/", {"status": "overdue", "year": "2023"})) == []
    assert len(_listed(owner_client.get("/billing/", {"status": "paid", "year": "2024"}))) == 11


def test_history_pages_back_to_january_2020(owner_client, history):
    first = owner_client.get("/billing/")
    assert first.context["page"].paginator.count == 60
    last = owner_client.get("/billing/", {"page": first.context["page"].paginator.num_pages})

    assert _listed(last)[-1] == "INV-2020-01"


def test_filter_is_kept_when_paging(owner_client, history):
    page = _page(owner_client.get("/billing/", {"status": "paid"}))

    assert "?status=paid&amp;page=2" in page


def test_unknown_year_or_status_says_so_and_lists_everything(owner_client, invoice):
    response = owner_client.get("/billing/", {"year": "1999", "status": "lost"})

    page = _page(response)
    assert response.status_code == 200
    assert "Select a valid choice. 1999 is not one of the available choices." in page
    assert "Select a valid choice. lost is not one of the available choices." in page
    assert _listed(response) == ["INV-2025-002"]


def test_no_invoices_yet_says_so(owner_client):
    assert "No invoices yet" in _page(owner_client.get("/billing/"))


def _bulk_invoices(organisation, count: int) -> None:
    invoices = Invoice.objects.bulk_create(
        Invoice(
            organisation=organisation,
            number=f"INV-{n:04d}",
            issue_date=datetime.date(2020, 1, 1) + datetime.timedelta(days=30 * n),
            due_date=datetime.date(2020, 1, 1) + datetime.timedelta(days=30 * n + 30),
            period_start=datetime.date(2019, 12, 1) + datetime.timedelta(days=30 * n),
            period_end=datetime.date(2019, 12, 31) + datetime.timedelta(days=30 * n),
            status=Status.PAID,
            published_at=timezone.now(),
        )
        for n in range(count)
    )
    if invoices[0].pk is None:  # backends that do not return ids from bulk inserts
        invoices = list(Invoice.objects.filter(organisation=organisation))
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=invoice, description=f"Line {i}", quantity=Decimal(i + 1), unit_price=Decimal("9.99"))
        for invoice in invoices
        for i in range(3)
    )


@pytest.mark.parametrize("who", ["owner", "viewer"])
def test_list_query_count_does_not_grow_with_invoices(client, organisation, who, request):
    signed_in = log_in(client, request.getfixturevalue(who))

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert signed_in.get("/billing/").status_code == 200
        return len(queries)

    _bulk_invoices(organisation, 3)
    few = queries_for_list()
    Invoice.objects.all().delete()
    _bulk_invoices(organisation, 80)
    many = queries_for_list()

    assert few == many
    assert many <= 16


# --- Detail and download -----------------------------------------------------------------------------


def test_detail_shows_lines_and_totals(viewer_client, invoice):
    page = _page(viewer_client.get(f"/billing/{invoice.pk}/"))

    assert "Invoice INV-2025-002" in page
    assert "Vault storage (GB-months)" in page
    assert "12.375" in page  # quantity as entered
    assert "10.52" in page  # 12.375 x 0.85 = 10.51875
    assert "500.52" in page  # subtotal
    assert "100.10" in page  # 20 % tax (100.104)
    assert "EUR 600.62" in page
    assert f'href="/billing/{invoice.pk}/pdf/"' in page


def test_pdf_download_is_recorded(viewer_client, viewer, invoice, organisation):
    response = viewer_client.get(f"/billing/{invoice.pk}/pdf/")
    b"".join(response.streaming_content)

    event = AuditEvent.objects.get(action="file.downloaded")
    assert (event.actor, event.organisation, event.target_label) == (viewer, organisation, "Invoice INV-2025-002 (PDF)")
