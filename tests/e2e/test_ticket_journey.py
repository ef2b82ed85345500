"""A support ticket between two colleagues, in two real browsers (SPEC §6 tickets, §8 CSP)."""

import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, FilePayload, Page, expect

from accounts.models import Organisation, User
from support.models import Attachment, Comment, Status, Ticket
from tests.e2e.journeys import log_in as shared_log_in
from tests.factories import AdminFactory, OrganisationFactory, UserFactory

SUBJECT = "Invoice 2025-03 charges Detokenize twice"
BODY = "The March invoice counts every Detokenize call twice. The invoice is attached."
REPLY = "Same on our side: 1,204 calls in our logs, 2,408 on the invoice."
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def log_in(page: Page, base_url: str, user: User) -> None:
    shared_log_in(page, base_url, user)
    expect(page.get_by_role("heading", name=f"Welcome, {user.full_name}")).to_be_visible()


def open_tickets(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tickets").click()
    expect(page.get_by_role("heading", name="Tickets", exact=True)).to_be_visible()


@pytest.mark.browser
def test_member_opens_ticket_with_colleague_who_downloads_attachment_and_replies_then_member_closes_it(
    live_server, transactional_db, browser: Browser, page: Page, console_messages, mailoutbox
):
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    member = UserFactory.create(organisation=organisation, email="max@acme.example", full_name="Max Member")
    colleague = UserFactory.create(organisation=organisation, email="cora@acme.example", full_name="Cora Colleague")

    # The member opens a ticket, includes a colleague and attaches the invoice.
    log_in(page, live_server.url, member)
    open_tickets(page)
    expect(page.get_by_text("No tickets")).to_be_visible()
    page.get_by_role("link", name="Open a ticket").click()
    expect(page.get_by_role("heading", name="Open a ticket")).to_be_visible()
    page.get_by_label("Subject", exact=True).fill(SUBJECT)
    page.get_by_label("Category", exact=True).select_option(label="Problem")
    page.get_by_label("What do you need?").fill(BODY)
    colleagues = page.get_by_role("group", name="Include colleagues").get_by_role("checkbox")
    expect(colleagues).to_have_count(2)  # the admin and the colleague; never the member themself
    page.get_by_label("Cora Colleague").check()
    invoice: FilePayload = {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}
    page.get_by_label("Attachments").set_input_files(files=[invoice])
    page.get_by_role("button", name="Send to support").click()

    ticket = Ticket.objects.get()
    expect(page.get_by_role("status").filter(has_text=f"Ticket #{ticket.pk} is open.")).to_be_visible()
    expect(page.get_by_role("heading", name=f"#{ticket.pk} {SUBJECT}")).to_be_visible()
    # Everyone included (the opener and the colleague, in no set order); not the admin.
    expect(page.get_by_text(re.compile(r"· included: "))).to_have_text(
        re.compile(r"included: (Max Member, Cora Colleague|Cora Colleague, Max Member)$")
    )
    expect(page.get_by_role("link", name="invoice.pdf")).to_be_visible()
    assert (ticket.opened_by, ticket.status, ticket.body) == (member, Status.OPEN, BODY)
    assert list(ticket.participants.all()) == [colleague]
    attachment = Attachment.objects.get(ticket=ticket)
    assert (attachment.name, attachment.content_type, attachment.size) == ("invoice.pdf", "application/pdf", len(PDF))
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()

    # The colleague and support hear about it; the member (the author) and the admin do not.
    ticket_link = f"{settings.PORTAL_BASE_URL}/tickets/{ticket.pk}/"
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["cora@acme.example"], f"[Ticket #{ticket.pk}] {SUBJECT}"),
        ([settings.SUPPORT_EMAIL], f"[Ticket #{ticket.pk}] {SUBJECT}"),
    ]
    assert "Max Member opened a ticket (Problem)." in mailoutbox[0].body
    assert BODY in mailoutbox[0].body
    assert ticket_link in mailoutbox[0].body

    # In another browser, the colleague finds the ticket in their list and downloads the invoice.
    colleague_context = browser.new_context(viewport={"width": 1280, "height": 900})
    colleague_context.set_default_timeout(10_000)
    colleague_page = colleague_context.new_page()
    colleague_page.on("console", lambda message: console_messages.append(f"{message.type}: {message.text}"))
    colleague_page.on("pageerror", lambda error: console_messages.append(f"pageerror: {error}"))
    log_in(colleague_page, live_server.url, colleague)
    open_tickets(colleague_page)
    ticket_row = colleague_page.get_by_role("row").filter(has=colleague_page.get_by_role("link", name=SUBJECT))
    expect(ticket_row.get_by_role("cell")).to_have_text(
        [str(ticket.pk), SUBJECT, "Problem", "Open", "Max Member", re.compile(r"\d{4}, \d\d:\d\d$")]
    )
    colleague_page.get_by_role("link", name=SUBJECT).click()
    expect(colleague_page.get_by_role("heading", name=f"#{ticket.pk} {SUBJECT}")).to_be_visible()
    expect(colleague_page.get_by_text(BODY)).to_be_visible()
    with colleague_page.expect_download() as download_info:
        colleague_page.get_by_role("link", name="invoice.pdf").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == "invoice.pdf"
    assert Path(download.path()).read_bytes() == PDF

    # The colleague replies: the member and support hear about it.
    colleague_page.get_by_label("Your reply").fill(REPLY)
    colleague_page.get_by_role("button", name="Send", exact=True).click()
    expect(colleague_page.get_by_role("status").filter(has_text="Your reply is added.")).to_be_visible()
    expect(colleague_page.get_by_text(REPLY)).to_be_visible()
    colleague_context.close()
    assert list(Comment.objects.filter(ticket=ticket).values_list("author", "body")) == [(colleague.pk, REPLY)]
    assert [(m.to, m.subject) for m in mailoutbox[2:]] == [
        (["max@acme.example"], f"[Ticket #{ticket.pk}] {SUBJECT}"),
        ([settings.SUPPORT_EMAIL], f"[Ticket #{ticket.pk}] {SUBJECT}"),
    ]
    assert "Cora Colleague wrote on the ticket." in mailoutbox[2].body
    assert REPLY in mailoutbox[2].body

    # The member sees the reply (the ticket now waits on support) and closes the ticket.
    open_tickets(page)
    member_row = page.get_by_role("row").filter(has=page.get_by_role("link", name=SUBJECT))
    expect(member_row.get_by_role("cell").nth(3)).to_have_text("Waiting on support")
    page.get_by_role("link", name=SUBJECT).click()
    reply = page.locator("article").filter(has_text=REPLY)
    expect(reply).to_be_visible()
    expect(reply).to_contain_text("Cora Colleague")
    page.get_by_role("button", name="Close ticket").click()
    expect(page.get_by_role("status").filter(has_text="The ticket is closed.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Problem · Closed · opened"))).to_be_visible()
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    # Closing tells everyone else on the ticket: the colleague and support, not the member who closed it.
    assert [(m.to, m.subject) for m in mailoutbox[4:]] == [
        ([colleague.email], f"[Ticket #{ticket.pk}] {SUBJECT}"),
        ([settings.SUPPORT_EMAIL], f"[Ticket #{ticket.pk}] {SUBJECT}"),
    ]
    assert "Max Member closed the ticket." in mailoutbox[4].body
    assert owner.email not in {address for m in mailoutbox for address in m.to}

    csp_reports = [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)]
    assert csp_reports == []
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
