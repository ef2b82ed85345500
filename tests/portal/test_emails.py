"""Every email is text + HTML from templates on one layout, one recipient per message, HTML escaped."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMultiAlternatives
from django.utils.html import escape

from accounts import services as accounts_services
from accounts.models import Role
from billing import services as billing_services
from billing.models import Status as InvoiceStatus
from extracts import services as extract_services
from extracts.models import ExtractRequest
from files import services as file_services
from files.models import Section
from support import services as support_services
from support.models import Category
from tests.billing.helpers import grant_billing, make_invoice
from tests.factories import AdminFactory, UserFactory
from tokens import kinds
from tokens import services as token_services
from whitelist import services as whitelist_services

TEMPLATES = Path(settings.BASE_DIR) / "templates"
SCRIPT_NAME = "<script>alert('x')</script> Mallory"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.sources: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append(value)
            if name in {"src", "background"} and value:
                self.sources.append(value)


def html_of(message: EmailMultiAlternatives) -> str:
    (alternative,) = message.alternatives
    content, mimetype = alternative
    assert mimetype == "text/html"
    return str(content)


def assert_well_formed(message: EmailMultiAlternatives) -> None:
    """Text body plus one HTML alternative on the base layout; absolute links; nothing loaded from outside."""
    assert isinstance(message, EmailMultiAlternatives)
    assert len(message.to) == 1
    assert message.body.strip() and "<html" not in message.body
    assert "API Platform Portal · " + settings.PORTAL_BASE_URL in message.body  # the text layout's footer
    html = html_of(message)
    assert html.startswith("<!DOCTYPE html>")
    assert f"<title>{escape(message.subject)}</title>" in html
    links = _Links()
    links.feed(html)
    assert not links.sources and "img" not in links.tags and "script" not in links.tags
    assert links.hrefs, "the layout links back to the portal"
    for href in links.hrefs:
        assert href.startswith((settings.PORTAL_BASE_URL, "mailto:")), href


@pytest.fixture
def three_admins(owner):
    AdminFactory.create(organisation=owner.organisation, email="ada@acme.example", full_name="Ada Admin")
    AdminFactory.create(organisation=owner.organisation, email="bob@acme.example", full_name="Bob Admin")
    return ["ada@acme.example", "bob@acme.example", "owner@acme.example"]


def test_every_email_template_has_a_text_and_an_html_twin_on_the_base_layout():
    texts = {p.with_suffix("") for p in TEMPLATES.glob("*/email/*.txt") if not p.name.endswith("_subject.txt")}
    htmls = {p.with_suffix("") for p in TEMPLATES.glob("*/email/*.html")}
    assert texts == htmls
    assert len(texts) >= 10
    for stem in texts:
        assert stem.with_suffix(".txt").read_text().startswith('{% extends "email/base.txt" %}'), stem
        assert stem.with_suffix(".html").read_text().startswith('{% extends "email/base.html" %}'), stem


def test_no_service_builds_an_email_body_in_code():
    apps = ["accounts", "tokens", "whitelist", "billing", "extracts", "files", "support", "alarms", "apikeys", "portal"]
    for app in apps:
        for path in (Path(settings.BASE_DIR) / app).rglob("*.py"):
            if path.name == "mail.py":  # the one helper that hands rendered messages to the task
                continue
            source = path.read_text()
            for forbidden in ("queue_email(", "send_mail(subject", "EmailMessage(", "send_email.delay("):
                assert forbidden not in source, f"{path}: {forbidden}"
            assert not re.search(r"\bbody=\(?\s*f[\"']", source), f"{path}: an f-string body"


def test_welcome_email_is_multipart_and_escapes_a_malicious_name(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        accounts_services.add_user(
            organisation=owner.organisation,
            email="mallory@acme.example",
            full_name=SCRIPT_NAME,
            role=Role.USER,
            acting_user=owner,
        )

    (message,) = mail.outbox
    assert_well_formed(message)
    assert message.subject == "Your account on the API platform portal"
    html = html_of(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Mallory" in html
    assert f"Hello {SCRIPT_NAME}," in message.body  # the text part is plain text: nothing to escape
    password = re.search(r"Temporary password: (\S+)", message.body)
    assert password and password.group(1) in html
    assert f'href="{settings.PORTAL_BASE_URL}/login/"' in html


def test_whitelist_change_to_three_admins_is_three_messages_of_one_recipient_each(
    owner, three_admins, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        whitelist_services.add_entry(
            organisation=owner.organisation, raw="203.0.113.7", description="<b>Office</b>", acting_user=owner
        )

    assert sorted(address for m in mail.outbox for address in m.to) == three_admins
    assert [len(m.to) for m in mail.outbox] == [1, 1, 1]
    for message in mail.outbox:
        assert_well_formed(message)
        assert message.cc == [] and message.bcc == []
        assert message.subject == "API whitelist of Acme Payments Ltd: 203.0.113.7/32 added"
        assert "&lt;b&gt;Office&lt;/b&gt;" in html_of(message)
    # Each admin is greeted by name in their own message.
    ada = next(m for m in mail.outbox if m.to == ["ada@acme.example"])
    assert "Hello Ada Admin," in ada.body and "Hello Ada Admin," in html_of(ada)


def test_invoice_published_to_three_viewers_is_three_messages(owner, three_admins, django_capture_on_commit_callbacks):
    draft = make_invoice(owner.organisation, number="INV-9", status=InvoiceStatus.DRAFT)

    with django_capture_on_commit_callbacks(execute=True):
        billing_services.publish(invoice=draft, acting_user=None)

    assert sorted(m.to[0] for m in mail.outbox) == three_admins
    for message in mail.outbox:
        assert_well_formed(message)
        assert f"{settings.PORTAL_BASE_URL}/billing/{draft.pk}/" in html_of(message)


def test_ticket_participants_each_get_their_own_message_and_support_its_own(
    owner, member, django_capture_on_commit_callbacks
):
    accountant = grant_billing(UserFactory.create(organisation=owner.organisation, email="acc@acme.example"))

    with django_capture_on_commit_callbacks(execute=True):
        support_services.open_ticket(
            acting_user=owner,
            subject="API keys <again>",
            body="Line one\n<i>not italic</i>",
            category=Category.QUESTION,
            participants=[member, accountant],
        )

    assert sorted(m.to[0] for m in mail.outbox) == ["acc@acme.example", "member@acme.example", settings.SUPPORT_EMAIL]
    for message in mail.outbox:
        assert_well_formed(message)
        assert message.subject.endswith("] API keys <again>")
        assert "&lt;i&gt;not italic&lt;/i&gt;" in html_of(message)
    to_support = next(m for m in mail.outbox if m.to == [settings.SUPPORT_EMAIL])
    assert "Support admin: " in to_support.body
    assert "Support admin" not in next(m for m in mail.outbox if m.to == [member.email]).body


def test_compliance_upload_notice_to_support(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        file_services.upload_file(
            acting_user=owner,
            section=Section.COMPLIANCE,
            upload=SimpleUploadedFile("register.pdf", PDF, "application/pdf"),
        )

    (message,) = mail.outbox
    assert_well_formed(message)
    assert message.to == [settings.SUPPORT_EMAIL]
    assert "Olivia Owner <owner@acme.example> of Acme Payments Ltd uploaded a compliance document" in message.body
    assert "Olivia Owner &lt;owner@acme.example&gt; of Acme Payments Ltd" in html_of(message)


def test_extract_failure_notice(owner, three_admins, django_capture_on_commit_callbacks):
    extract = ExtractRequest.objects.create(organisation=owner.organisation, requested_by=owner)

    with django_capture_on_commit_callbacks(execute=True):
        extract_services.recover_abandoned_extracts(now=extract.requested_at + extract_services.QUEUED_TOO_LONG * 2)

    assert sorted(m.to[0] for m in mail.outbox) == three_admins
    for message in mail.outbox:
        assert_well_formed(message)
        assert message.subject == "Your token extract failed (Acme Payments Ltd)"
        assert f'href="{settings.PORTAL_BASE_URL}/extracts/"' in html_of(message)


def test_security_code_email_and_text_message(member, twilio, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        token_services.start_destination(
            user=member, spec=kinds.EMAIL, destination="max.alt@acme.example", acting_user=member
        )
        token_services.start_destination(user=member, spec=kinds.SMS, destination="+44 7400 123456", acting_user=member)

    (message,) = mail.outbox
    assert_well_formed(message)
    assert message.subject == "Your security code"
    code = re.search(r"security code is (\d{6})\. It expires in 10 minutes\.", message.body)
    assert code and f'<strong style="font-size:20px;letter-spacing:2px;">{code.group(1)}</strong>' in html_of(message)
    (sms,) = twilio.sent
    assert re.fullmatch(
        rf"Your {re.escape(settings.OTP_TOTP_ISSUER)} security code is \d{{6}}\. It expires in 10 minutes\.",
        str(sms["data"]["Body"]),
    )


def test_password_reset_email(client, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/password/reset/", {"email": member.email})

    (message,) = mail.outbox
    assert_well_formed(message)
    base = settings.PORTAL_BASE_URL  # never the request's host (docs/security.md, reset poisoning)
    link = re.search(rf"{re.escape(base)}(/password/reset/\S+/\S+/)", message.body)
    assert link and f'href="{base}{link.group(1)}"' in html_of(message)
