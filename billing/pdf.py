"""Draw an invoice as a PDF with fpdf2, for invoices support did not attach a PDF to.

Names and addresses can hold any script. With DejaVu Sans on the machine (Debian's
fonts-dejavu-core) the text is embedded as is; without it the PDF falls back to Helvetica, a
core font limited to Latin-1, and characters outside it are simplified ("Ł" -> "L") or replaced
by "?" rather than failing the download.
"""

import logging
import unicodedata
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF, XPos, YPos
from fpdf.fonts import FontFace

from billing import formatting
from billing.models import Invoice

FONT_DIRECTORIES = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)


# Who issues the invoices; printed in the header of every generated PDF.
def _issuer() -> list[str]:
    """The invoicing company, one line each (BILLING_ISSUER_LINES, separated by "|")."""
    return list(settings.BILLING_ISSUER_LINES)


logger = logging.getLogger(__name__)


def _find_dejavu() -> tuple[Path, Path] | None:
    for directory in FONT_DIRECTORIES:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class InvoicePDF(FPDF):
    def __init__(self, invoice: Invoice) -> None:
        super().__init__(format="A4")
        self.invoice = invoice
        self.unicode = False
        fonts = _find_dejavu()
        if fonts is not None:
            try:
                self.add_font("DejaVu", "", str(fonts[0]))
                self.add_font("DejaVu", "B", str(fonts[1]))
                self.unicode = True
            except Exception:  # a damaged font file must not stop the invoice
                logger.warning("Could not load DejaVu Sans from %s; using Helvetica", fonts[0], exc_info=True)
        self.family = "DejaVu" if self.unicode else "Helvetica"
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(18, 18, 18)

    def text_for(self, value: str) -> str:
        """The text as the current font can draw it."""
        if self.unicode:
            return value
        simplified = "".join(
            ch if ord(ch) < 256 else unicodedata.normalize("NFKD", ch)[0] for ch in value.replace("\u2014", "-")
        )
        return simplified.encode("latin-1", "replace").decode("latin-1")

    def write_line(self, value: str, *, size: float = 10, bold: bool = False, height: float = 5) -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.multi_cell(0, height, self.text_for(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 8)
        self.set_text_color(110, 110, 110)
        label = f"Invoice {self.invoice.number} · page {self.page_no()} of {{nb}}"
        self.cell(0, 6, self.text_for(label), align="C")
        self.set_text_color(0, 0, 0)


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's data as a PDF: issuer and customer, number, dates, period, lines and totals."""
    pdf = InvoicePDF(invoice)
    organisation = invoice.organisation
    totals = invoice.totals
    currency = invoice.currency
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_subject(f"Invoice {invoice.number} for {organisation.name}")
    issuer = _issuer()
    pdf.set_author(issuer[0])
    pdf.set_creator("API Platform Portal")
    pdf.set_creation_date(timezone.now())
    pdf.add_page()

    pdf.write_line(issuer[0], size=14, bold=True, height=7)
    for line in issuer[1:]:
        pdf.write_line(line, size=9, height=4.5)
    pdf.ln(6)
    pdf.write_line(f"Invoice {invoice.number}", size=18, bold=True, height=9)
    pdf.ln(2)

    facts = [
        ("Issue date", invoice.issue_date.strftime("%d %B %Y")),
        ("Due date", invoice.due_date.strftime("%d %B %Y")),
        ("Service period", f"{invoice.period_start:%d %B %Y} to {invoice.period_end:%d %B %Y}"),
        ("Currency", currency),
    ]
    for label, value in facts:
        pdf.set_font(pdf.family, "B", 10)
        pdf.cell(40, 5.5, pdf.text_for(label))
        pdf.set_font(pdf.family, "", 10)
        pdf.cell(0, 5.5, pdf.text_for(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    pdf.write_line("Billed to", size=10, bold=True)
    pdf.write_line(organisation.name)
    for line in organisation.address.splitlines():
        if line.strip():
            pdf.write_line(line.strip())
    if organisation.country:
        pdf.write_line(organisation.country)
    if organisation.vat_number:
        pdf.write_line(f"VAT number: {organisation.vat_number}")
    if organisation.registration_number:
        pdf.write_line(f"Registration number: {organisation.registration_number}")
    pdf.ln(6)

    pdf.set_font(pdf.family, "", 9.5)
    heading = FontFace(emphasis="BOLD", fill_color=(235, 239, 245))
    with pdf.table(
        col_widths=(88, 26, 30, 30),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=heading,
        line_height=5.5,
        padding=1.5,
    ) as table:
        table.row([pdf.text_for(text) for text in ("Description", "Quantity", f"Unit price ({currency})", "Amount")])
        for item in invoice.lines.all():
            table.row(
                [
                    pdf.text_for(item.description),
                    formatting.quantity(item.quantity),
                    formatting.unit_price(item.unit_price),
                    formatting.money(item.amount),
                ]
            )
    pdf.ln(4)

    rows = [("Subtotal", formatting.money(totals.subtotal), False)]
    rows.append((f"Tax ({formatting.quantity(invoice.tax_rate)}%)", formatting.money(totals.tax), False))
    rows.append((f"Total ({currency})", formatting.money(totals.total), True))
    for label, amount, bold in rows:
        pdf.set_font(pdf.family, "B" if bold else "", 10.5 if bold else 10)
        pdf.cell(144, 6, pdf.text_for(label), align="R")
        pdf.cell(30, 6, pdf.text_for(f"{amount}"), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.ln(6)
    pdf.write_line(f"Please pay {currency} {formatting.money(totals.total)} by {invoice.due_date:%d %B %Y}.")
    if invoice.notes:
        pdf.ln(3)
        pdf.write_line("Notes", bold=True)
        pdf.write_line(invoice.notes)
    return bytes(pdf.output())
