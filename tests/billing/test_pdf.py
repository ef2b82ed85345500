"""The invoice PDF: the one support attached, as is, or one drawn from the invoice and kept."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from billing import pdf
from billing.models import Invoice
from tests.billing.helpers import PDF_BYTES, make_invoice, pdf_page_text, pdf_title
from tests.conftest import log_in
from tests.factories import AdminFactory, OrganisationFactory

DEJAVU = pdf._find_dejavu()


@pytest.fixture
def invoice(organisation) -> Invoice:
    return make_invoice(organisation, number="INV-2025-002", tax_rate=Decimal("20"))


def _private_files() -> list[Path]:
    root = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    return sorted(path for path in root.rglob("*") if path.is_file())


def _download(client, invoice: Invoice):
    response = client.get(f"/billing/{invoice.pk}/pdf/")
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


def test_attached_pdf_is_served_as_is(owner_client, invoice):
    invoice.pdf.save("from-finance.pdf", ContentFile(PDF_BYTES))

    response, body = _download(owner_client, invoice)

    assert body == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="invoice-INV-2025-002.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_attached_pdf_is_stored_privately_under_a_random_name(invoice):
    invoice.pdf.save("Acme invoice February.pdf", ContentFile(PDF_BYTES))

    [stored] = _private_files()
    assert stored.name != "Acme invoice February.pdf"
    assert "INV" not in stored.name
    assert stored.read_bytes() == PDF_BYTES


def test_generated_pdf_carries_the_invoice_number(owner_client, invoice):
    response, body = _download(owner_client, invoice)

    assert body.startswith(b"%PDF-")
    assert body.rstrip().endswith(b"%%EOF")
    assert pdf_title(body) == "Invoice INV-2025-002"
    assert response["Content-Disposition"] == 'attachment; filename="invoice-INV-2025-002.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_generated_pdf_is_drawn_once_and_kept(owner_client, invoice):
    _, first = _download(owner_client, invoice)
    [stored] = _private_files()

    _, second = _download(owner_client, invoice)

    assert second == first  # the same file, not a redrawn one (which would carry a new date)
    assert _private_files() == [stored]
    assert stored.read_bytes() == first
    assert "INV" not in stored.name


def test_attached_pdf_wins_over_a_generated_one(owner_client, invoice):
    _download(owner_client, invoice)
    invoice.refresh_from_db()
    invoice.pdf.save("final.pdf", ContentFile(PDF_BYTES))

    _, body = _download(owner_client, invoice)

    assert body == PDF_BYTES


def test_number_with_slashes_gives_a_safe_file_name(owner_client, organisation):
    invoice = make_invoice(organisation, number="ACME/2025/002")

    response, _ = _download(owner_client, invoice)

    assert response["Content-Disposition"] == 'attachment; filename="invoice-ACME-2025-002.pdf"'


UNICODE_ORGANISATION = "Zoë Łódź Ödeme Sistemleri 株式会社"
UNICODE_LINE = "Überprüfung \u2013 Ελληνικά, Кириллица 🚀"  # an en dash, Greek, Cyrillic, an emoji


@pytest.fixture
def unicode_client(db, client):
    organisation = OrganisationFactory(name=UNICODE_ORGANISATION, address="ul. Piotrkowska 1\n90-001 Łódź")
    return log_in(client, AdminFactory.create(organisation=organisation)), organisation


@pytest.mark.skipif(DEJAVU is None, reason="DejaVu Sans is not installed here")
def test_unicode_names_are_embedded_with_dejavu(unicode_client):
    signed_in, organisation = unicode_client
    invoice = make_invoice(organisation, number="FAKTURA-Ł-1", lines=[(UNICODE_LINE, "1", "10")])

    _, body = _download(signed_in, invoice)

    assert body.startswith(b"%PDF-")
    assert b"DejaVuSans" in body
    assert pdf_title(body) == "Invoice FAKTURA-Ł-1"


def test_without_dejavu_unicode_names_fall_back_to_helvetica(unicode_client, monkeypatch):
    monkeypatch.setattr(pdf, "FONT_DIRECTORIES", ())
    signed_in, organisation = unicode_client
    invoice = make_invoice(organisation, number="INV-UNI-1", lines=[(UNICODE_LINE, "1", "10")])

    _, body = _download(signed_in, invoice)

    assert body.startswith(b"%PDF-")
    assert b"DejaVu" not in body
    text = pdf_page_text(body)
    assert b"Invoice INV-UNI-1" in text
    assert "Zoë".encode("latin-1") in text  # Latin-1 survives as is
    assert "Überprüfung".encode("latin-1") in text
    assert "?ódz".encode("latin-1") in text  # "Ł" has no Latin-1 form; "ź" loses its accent
    assert b"10.00" in text


def test_a_lost_generated_pdf_is_drawn_again(owner_client, invoice):
    _download(owner_client, invoice)
    [lost] = _private_files()
    lost.unlink()

    _, body = _download(owner_client, invoice)

    assert pdf_title(body) == "Invoice INV-2025-002"
    assert len(_private_files()) == 1
