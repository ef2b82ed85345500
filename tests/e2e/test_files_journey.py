"""An org admin keeps files, reads an invoice and takes a token extract in a real browser (SPEC §6)."""

import csv
import gzip
import io
import re
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Download, Page, expect

from accounts.models import Organisation
from audit.models import AuditEvent
from billing.models import Invoice, InvoiceLine
from billing.services import publish
from extracts.models import ExtractRequest, Status
from extracts.vault import VAULT, add_demo_tokens, create_vault_table, demo_token
from files.models import Section, StoredFile
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory
from tests.files.helpers import EXE, pdf_of_size

DOCUMENT = "certificate-of-incorporation.pdf"
DOCUMENT_BYTES = pdf_of_size(2048)  # "2.0 KB" in the list
INVOICE = "INV-2025-014"
TOKENS = 350
OTHER_TOKENS = 40
EXTRACT_WAIT_SECONDS = 20


@pytest.fixture
def vault_table() -> Iterator[None]:
    """The vault's table in the test vault database, which the live server reads too; dropped after."""
    create_vault_table()
    yield
    with connections[VAULT].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS vault_tokens")


def published_invoice(organisation: Organisation) -> Invoice:
    """What support leaves after issuing February's invoice in the admin: a draft with lines, published."""
    invoice = Invoice.objects.create(
        organisation=organisation,
        number=INVOICE,
        issue_date=date(2025, 3, 1),
        due_date=date(2025, 3, 31),
        period_start=date(2025, 2, 1),
        period_end=date(2025, 2, 28),
        currency="EUR",
        tax_rate=Decimal("20"),
    )
    InvoiceLine.objects.create(
        invoice=invoice, position=0, description="Platform subscription", quantity=1, unit_price=Decimal("490.00")
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        position=1,
        description="Tokenization API calls",
        quantity=1_250_000,
        unit_price=Decimal("0.0004"),
    )
    return publish(invoice=invoice, acting_user=None)


def downloaded(download: Download) -> bytes:
    return Path(download.path()).read_bytes()


def wait_until_done(page: Page) -> None:
    """Reload the extracts page until the newest extract says Done (it runs in the live server's thread)."""
    status = (
        page.get_by_role("table", name=re.compile("Recent token extracts")).locator("tbody tr").first.locator(".badge")
    )
    deadline = time.monotonic() + EXTRACT_WAIT_SECONDS
    while (text := status.inner_text().strip()) != "Done":
        assert text != "Failed", page.locator("tbody .help").all_inner_texts()
        assert time.monotonic() < deadline, f"the extract is still {text} after {EXTRACT_WAIT_SECONDS} s"
        page.wait_for_timeout(250)
        page.reload()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "vault"])
def test_admin_uploads_and_downloads_a_document_an_invoice_pdf_and_a_token_extract(
    live_server, transactional_db, vault_table, page: Page, console_messages, mailoutbox
):
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    other: Organisation = OrganisationFactory.create(name="Globex Corp")
    add_demo_tokens(organisation.public_id, start=0, count=TOKENS)
    add_demo_tokens(other.public_id, start=0, count=OTHER_TOKENS)
    published_invoice(organisation)
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["olivia@acme.example"], f"New invoice {INVOICE} for Acme Payments Ltd")
    ]

    log_in(page, live_server.url, owner)
    expect(page.get_by_role("heading", name="Welcome, Olivia Owner")).to_be_visible()

    # Files → Compliance: a program named like a PDF is refused, and says why.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Files").click()
    sections = page.get_by_role("navigation", name="File Manager sections")
    expect(sections.get_by_role("link", name="Compliance")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("No files yet")).to_be_visible()
    page.get_by_label("File", exact=True).set_input_files(
        {"name": "passport.pdf", "mimeType": "application/pdf", "buffer": EXE}
    )
    page.get_by_role("button", name="Upload").click()
    expect(
        page.get_by_text(re.compile(r"This type of file is not accepted \(judged from its content\)"))
    ).to_be_visible()
    assert not StoredFile.objects.exists()

    # A real PDF goes in, and is listed with its size and as waiting for support's review.
    page.get_by_label("File", exact=True).set_input_files(
        {"name": DOCUMENT, "mimeType": "application/pdf", "buffer": DOCUMENT_BYTES}
    )
    page.get_by_role("button", name="Upload").click()
    expect(
        page.get_by_role("status").filter(has_text=f"“{DOCUMENT}” is uploaded to Compliance. Support has been told")
    ).to_be_visible()
    listed = page.get_by_role("table", name="Compliance files of Acme Payments Ltd").locator("tbody tr")
    expect(listed).to_have_count(1)
    expect(listed.get_by_role("cell")).to_have_text(
        [
            DOCUMENT,
            "2.0 KB",
            "Olivia Owner",
            re.compile(r"\d{4}, \d\d:\d\d"),
            re.compile(r"^[0-9a-f]{12}$"),
            "Pending review",
            re.compile("Download"),
        ]
    )
    listed.get_by_label(f"Actions for {DOCUMENT}").click()  # download and delete: the row's menu
    with page.expect_download() as download_info:
        listed.get_by_role("link", name=f"Download {DOCUMENT}").click()
    download = download_info.value
    assert download.suggested_filename == DOCUMENT
    assert downloaded(download) == DOCUMENT_BYTES
    assert [m.subject for m in mailoutbox][1:] == [f"[Compliance] Acme Payments Ltd uploaded {DOCUMENT}"]

    # Billing → the published invoice: its lines and total, then its PDF.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", name="Billing")).to_be_visible()
    invoice_row = page.get_by_role("row").filter(has=page.get_by_role("link", name=INVOICE, exact=True))
    expect(invoice_row.get_by_role("cell").nth(4)).to_have_text("EUR 1,188.00")
    expect(invoice_row.get_by_role("cell").nth(5)).to_have_text("Issued")
    invoice_row.get_by_role("link", name=INVOICE, exact=True).click()
    expect(page.get_by_role("heading", name=f"Invoice {INVOICE}")).to_be_visible()
    lines = page.get_by_role("table", name="Line items")
    expect(lines.locator("tbody tr")).to_have_count(2)
    expect(lines.locator("tbody tr").nth(0).get_by_role("cell")).to_have_text(
        ["Platform subscription", "1", "490.00", "490.00"]
    )
    expect(lines.locator("tbody tr").nth(1).get_by_role("cell")).to_have_text(
        ["Tokenization API calls", "1,250,000", "0.0004", "500.00"]
    )
    expect(lines.locator("tfoot tr")).to_have_text(
        [re.compile(r"Subtotal\s*990\.00"), re.compile(r"Tax \(20%\)\s*198\.00"), re.compile(r"Total\s*EUR 1,188\.00")]
    )
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"invoice-{INVOICE}.pdf"
    assert downloaded(download).startswith(b"%PDF")

    # Files → Token extracts → request one; it runs in the server and reaches Done with every token.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Files").click()
    page.get_by_role("navigation", name="File Manager sections").get_by_role("link", name="Token extracts").click()
    expect(page.get_by_text("No extracts yet")).to_be_visible()
    page.get_by_role("link", name="Request an extract or set a schedule").click()
    expect(page.get_by_role("heading", name="Token extracts")).to_be_visible()
    expect(page.get_by_text(f"{TOKENS} now: an extract holds one row for each")).to_be_visible()
    page.get_by_role("button", name="Request an extract").click()
    # Tasks run in the server here, so the extract is done when the page comes back, and says so.
    expect(
        page.get_by_role("status").filter(has_text=f"Your token extract is ready: {TOKENS} tokens in token-extract-")
    ).to_be_visible()
    wait_until_done(page)
    extract = ExtractRequest.objects.get(organisation=organisation)
    assert (extract.status, extract.rows_written, extract.progress) == (Status.DONE, TOKENS, 100)
    assert extract.file is not None
    extract_name = extract.file.name
    assert re.fullmatch(r"token-extract-acme-payments-ltd-\d{8}-\d{4}\.csv\.gz", extract_name)
    done_row = page.get_by_role("table", name=re.compile("Recent token extracts")).locator("tbody tr")
    expect(done_row).to_have_count(1)
    expect(done_row.get_by_role("cell").nth(1)).to_have_text("Olivia Owner")
    expect(done_row.get_by_role("cell").nth(3)).to_have_text(str(TOKENS))
    expect(done_row.get_by_role("cell").nth(4)).to_have_text(re.compile("100%"))
    expect(done_row.get_by_role("link", name=extract_name)).to_be_visible()
    expect(page.get_by_role("button", name="Request an extract")).to_be_visible()  # nothing active any more

    # The File Manager's Token extracts section lists the file; its download is the gzip CSV.
    page.get_by_role("link", name="Open the extract files").click()
    expect(
        page.get_by_role("navigation", name="File Manager sections").get_by_role("link", name="Token extracts")
    ).to_have_attribute("aria-current", "page")
    extracts_list = page.get_by_role("table", name="Token extracts files of Acme Payments Ltd").locator("tbody tr")
    expect(extracts_list).to_have_count(1)
    extracts_list.get_by_label(f"Actions for {extract_name}").click()
    with page.expect_download() as download_info:
        extracts_list.get_by_role("link", name=f"Download {extract_name}").click()
    download = download_info.value
    assert download.suggested_filename == extract_name
    rows = list(csv.reader(io.StringIO(gzip.decompress(downloaded(download)).decode("utf-8"), newline="")))
    assert rows[0] == ["token", "created_at"]
    assert len(rows) == 1 + TOKENS
    assert [row[0] for row in rows[1:]] == [demo_token(organisation.public_id, n) for n in range(TOKENS)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[1]) for row in rows[1:])
    assert StoredFile.objects.filter(organisation=organisation, section=Section.EXTRACTS).count() == 1
    assert not StoredFile.objects.filter(organisation=other).exists()
    assert [m.subject for m in mailoutbox][2:] == ["Your token extract is ready (Acme Payments Ltd)"]

    # The audit trail has each upload, download and extract, with who did it from where.
    trail = AuditEvent.objects.filter(organisation=organisation, action__regex=r"^(file|extract)\.").order_by("pk")
    assert [(e.action, e.actor_label, e.target_label) for e in trail] == [
        ("file.uploaded", "olivia@acme.example", f"{DOCUMENT} (Compliance)"),
        ("file.downloaded", "olivia@acme.example", f"{DOCUMENT} (Compliance)"),
        ("file.downloaded", "olivia@acme.example", f"Invoice {INVOICE} (PDF)"),
        ("extract.requested", "olivia@acme.example", f"Token extract #{extract.pk} (one-off)"),
        ("extract.done", "system", extract_name),
        ("file.downloaded", "olivia@acme.example", f"{extract_name} (Token extracts)"),
    ]
    assert all(e.ip_address == "127.0.0.1" for e in trail if e.actor_label != "system")

    csp_reports = [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)]
    assert csp_reports == []
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
