"""Every link in every email the portal sends is on PORTAL_BASE_URL (issue 19).

Emails are read outside the portal, so a link must be absolute, and on the portal's public
address -- never the request's Host, never a hard-coded development address. Each email is sent
here the way the portal sends it, with PORTAL_BASE_URL set to an address nothing else uses; the
templates rendered are collected, and an email template that no case below sends fails the test.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test.signals import template_rendered
from django.utils import timezone
from pyrage import x25519

from accounts import services as accounts_services
from accounts.models import Role
from alarms import services as alarm_services
from alarms import webhooks
from alarms.models import WebhookEndpoint
from apikeys import services as apikey_services
from billing import services as billing_services
from billing.models import Status as InvoiceStatus
from dashboard.models import FiveMinuteMethodCount, bucket_start
from extracts import services as extract_services
from extracts.models import ExtractRequest
from extracts.vault import create_vault_table
from files import services as file_services
from files.models import Section
from support import services as support_services
from support.models import Category
from tests.billing.helpers import make_invoice
from tests.extracts.conftest import give_tokens
from tests.tokens.helpers import enrol_rfc_token
from tokens import kinds
from tokens import services as token_services
from tokens.models import PasskeyDevice
from tokens.services import enrolment
from tokens.services import passkeys as passkey_services
from whitelist import services as whitelist_services

BASE_URL = "https://portal.example.net:8443"
# Addresses the customer typed in themselves, which an email may quote as text (never as a link).
QUOTED = {"https://hooks.acme.example/portal"}
TEMPLATES = Path(settings.BASE_DIR) / "templates"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# Anything that looks like an address: a scheme, or a host of a known local or example kind.
ADDRESS = re.compile(
    r"\b(?:[a-z][a-z0-9+.-]*://|www\.)[^\s\"'<>]+|\b(?:127\.0\.0\.1|localhost|testserver)\b[^\s\"'<>]*"
)
HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""")


def email_templates() -> set[str]:
    """Every email the portal can send, by template (without extension), from the templates folder."""
    found = set()
    for path in TEMPLATES.glob("*/email/*.txt"):
        if not path.name.endswith("_subject.txt"):
            found.add(str(path.relative_to(TEMPLATES).with_suffix("")))
    return found


@pytest.fixture
def rendered():
    """Names of the email templates rendered during the test."""
    names: set[str] = set()

    def collect(sender, template, context, **kwargs):
        name = getattr(template, "name", None) or ""
        if "/email/" in name and not name.startswith("email/") and not name.endswith("_subject.txt"):
            names.add(name.rsplit(".", 1)[0])

    template_rendered.connect(collect)
    yield names
    template_rendered.disconnect(collect)


@pytest.fixture
def vault():
    create_vault_table()
    yield
    if not connections["vault"].in_atomic_block:
        with connections["vault"].cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS vault_tokens")


def send_every_email(client, owner, member, settings) -> None:
    """Each of the portal's emails, sent through the code path that sends it."""
    # Welcome, and welcome again after the second factors were reset.
    added = accounts_services.add_user(
        organisation=owner.organisation,
        email="new@acme.example",
        full_name="Nia New",
        role=Role.USER,
        acting_user=owner,
    )
    accounts_services.reset_second_factors(user=member, acting_user=owner)
    # Forgot password, asked for with a Host that is not the portal's.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "elsewhere.example"]
    client.post("/password/reset/", {"email": owner.email}, HTTP_HOST="elsewhere.example")
    # A new second factor, and a code sent by email.
    enrol_rfc_token(owner, acting_user=owner)
    token_services.start_destination(
        user=owner, spec=kinds.EMAIL, destination="olivia.alt@acme.example", acting_user=owner
    )
    # The whitelist changed; an invoice was published; a ticket was opened (customers and support).
    whitelist_services.add_entry(
        organisation=owner.organisation, raw="203.0.113.7", description="Office", acting_user=owner
    )
    # A whitelist entry expiring: the admins are warned 7 days ahead, then told it was removed.
    today = timezone.localdate()
    whitelist_services.add_entry(
        organisation=owner.organisation,
        raw="198.51.100.9",
        description="Pen test",
        expires_on=today + timedelta(days=3),
        acting_user=owner,
    )
    whitelist_services.send_expiry_notices(today=today)
    whitelist_services.remove_expired_entries(today=today + timedelta(days=3))
    billing_services.publish(
        invoice=make_invoice(owner.organisation, number="INV-7", status=InvoiceStatus.DRAFT), acting_user=None
    )
    support_services.open_ticket(
        acting_user=owner, subject="Keys", body="Which key?", category=Category.QUESTION, participants=[added]
    )
    # A compliance document for support to review.
    document = file_services.upload_file(
        acting_user=owner, section=Section.COMPLIANCE, upload=SimpleUploadedFile("register.pdf", PDF, "application/pdf")
    )
    # Its expiry reminder to the admins.
    today = timezone.localdate()
    file_services.set_document_expiry(stored=document, document_type="", expires_on=today, acting_user=owner)
    file_services.send_expiry_notices(today=today)
    # An API key created: every admin hears of it.
    apikey_services.create_key(organisation=owner.organisation, name="Shop", methods=["Tokenize"], acting_user=owner)
    # An error alarm fires (its people are emailed); the webhook's secret is rotated (the admins are).
    now = timezone.now()
    alarm = alarm_services.create_alarm(
        organisation=owner.organisation,
        data=alarm_services.AlarmInput(
            name="Failing",
            method="Tokenize",
            metric="error_count",
            window_minutes=5,
            threshold="1",
            recipient_ids=[owner.pk],
        ),
        acting_user=owner,
    )
    FiveMinuteMethodCount.objects.create(
        organisation=owner.organisation, method="Tokenize", start=bucket_start(now), calls=10, errors=5
    )
    alarm_services.evaluate_alarm(alarm_id=alarm.pk, now=now)
    endpoint = WebhookEndpoint.objects.create(
        organisation=owner.organisation,
        url="https://hooks.acme.example/portal",
        secret="whsec_x",
        secret_created_at=now,
    )
    webhooks.rotate_secret(endpoint=endpoint, acting_user=owner)
    # A passkey refused as a possible copy: its owner and the admins hear of it.
    passkey_services.notify_possible_clone(
        enrolment.create_token(
            user=member,
            device=PasskeyDevice.objects.create(user=member, name="Passkey", credential_id="x", public_key=b"k"),
        )
    )
    # The key token extracts are encrypted to was set: every admin hears of it.
    extract_services.set_extract_key(acting_user=owner, recipient=str(x25519.Identity.generate().to_public()))


def send_extract_emails(owner, capture) -> None:
    """A token extract that is ready, then one that failed (one extract at a time per organisation)."""
    give_tokens(owner.organisation, 3)
    with capture(execute=True):
        extract_services.request_extract(acting_user=owner)  # runs in-process once committed
    with capture(execute=True):
        stuck = ExtractRequest.objects.create(organisation=owner.organisation, requested_by=owner)
        extract_services.recover_abandoned_extracts(now=stuck.requested_at + extract_services.QUEUED_TOO_LONG * 2)


@pytest.mark.django_db(databases=["default", "vault"])
def test_every_email_links_only_to_the_portal_base_url(
    client, owner, member, settings, rendered, vault, django_capture_on_commit_callbacks
):
    settings.PORTAL_BASE_URL = BASE_URL

    with django_capture_on_commit_callbacks(execute=True):
        send_every_email(client, owner, member, settings)
    send_extract_emails(owner, django_capture_on_commit_callbacks)

    assert rendered == email_templates(), "send each new email template in send_every_email()"
    problems = []
    for message in mail.outbox:
        bodies = [message.body, *(str(content) for content, _ in message.alternatives)]
        for body in bodies:
            for address in ADDRESS.findall(body):
                if not address.startswith(BASE_URL + "/") and address != BASE_URL and address not in QUOTED:
                    problems.append(f"{message.subject!r}: {address}")
        for html in bodies[1:]:
            for href in HREF.findall(html):
                if not (href.startswith(BASE_URL) or href.startswith("mailto:")):
                    problems.append(f"{message.subject!r}: href {href!r}")
    assert not problems, "\n".join(problems)
    # Each template's links were looked at: every email has at least the portal's own address.
    assert all(BASE_URL in message.body for message in mail.outbox)
