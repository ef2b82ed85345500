"""Invoices for the billing tests, built through the models as support would leave them."""

import datetime
import re
import zlib
from collections.abc import Sequence
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import Organisation, User
from billing.models import Invoice, InvoiceLine, Status

# description, quantity, unit price
Line = tuple[str, str, str]
DEFAULT_LINES: Sequence[Line] = (
    ("Platform subscription", "1", "490.00"),
    ("Tokenization API calls", "1250000", "0.0004"),
)
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def make_invoice(
    organisation: Organisation,
    *,
    number: str = "INV-2025-001",
    issue_date: datetime.date = datetime.date(2025, 2, 1),
    lines: Sequence[Line] = DEFAULT_LINES,
    status: str = Status.ISSUED,
    **fields: object,
) -> Invoice:
    """A published invoice (unless ``status`` is draft) for the month before ``issue_date``."""
    period_end = issue_date - datetime.timedelta(days=1)
    defaults: dict[str, object] = {
        "due_date": issue_date + datetime.timedelta(days=30),
        "period_start": period_end.replace(day=1),
        "period_end": period_end,
        "published_at": None if status in (Status.DRAFT, Status.VOID) else timezone.now(),
    }
    invoice = Invoice.objects.create(
        organisation=organisation,
        number=number,
        issue_date=issue_date,
        status=status,
        **{**defaults, **fields},
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=invoice, position=i, description=d, quantity=Decimal(q), unit_price=Decimal(p))
        for i, (d, q, p) in enumerate(lines)
    )
    return invoice


def grant_billing(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="view_billing", content_type__app_label="accounts"))
    return User.objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


def pdf_title(document: bytes) -> str:
    """The /Title of a PDF's information dictionary: a literal string, or UTF-16 hex beyond ASCII."""
    match = re.search(rb"/Title (?:<feff([0-9a-fA-F]+)>|\(((?:[^()\\]|\\.)*)\))", document)
    assert match is not None, "no /Title in the PDF"
    if match.group(1) is not None:
        return bytes.fromhex(match.group(1).decode()).decode("utf-16-be")
    return re.sub(rb"\\(.)", rb"\1", match.group(2)).decode("latin-1")


def pdf_page_text(document: bytes) -> bytes:
    """Every content stream, inflated: what a core-font PDF draws is readable in there."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, flags=re.DOTALL)
    out = []
    for stream in streams:
        try:
            out.append(zlib.decompress(stream))
        except zlib.error:
            out.append(stream)
    return b"\n".join(out)
