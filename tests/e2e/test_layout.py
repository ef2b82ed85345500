"""Every portal page on a phone (390 px wide) and on a desk (1280 px): nothing scrolls sideways, and
the rows of every table stay on one line.

The pages come from the URL configuration (tests/portal/url_walk.py). Each URL is either a page
in PAGES (who looks at it, at which addresses, with real objects for the ids) or in NOT_PAGES with
the reason it is none (a download, an action that only takes a POST, the platform's API). A URL in
neither fails test_every_url_is_a_page_or_says_why_not, so no page is added without being looked
at on both screens. The organisation is filled the way the demo is (seed_demo's usage, whitelist and
invoices) plus long names, subjects and descriptions: the values that used to wrap rows.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Value
from django.db.models.functions import Concat
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pyrage import x25519

from accounts import reauth
from accounts.models import User
from alarms.demo import seed_demo_alarms
from alarms.models import Alarm
from apikeys import services as apikeys
from apikeys.models import Overlap
from apikeys.views import SECRET_SESSION_KEY
from billing.demo import seed_demo_invoices
from billing.models import Invoice
from dashboard.demo import seed_demo_usage
from extracts import services as extracts
from files import services as files
from files.models import StoredFile
from support import services as support
from support.demo import seed_demo_error_ticket, seed_resource_links
from support.models import Attachment
from tests.conftest import log_in
from tests.e2e.journeys import enter_password
from tests.factories import AdminFactory, NewUserFactory, OrganisationFactory, UserFactory
from tests.portal.isolation_objects import World, hardware_token, token, token_extract
from tests.portal.url_walk import portal_urls
from tokens.models import TokenKind
from whitelist import services as whitelist
from whitelist.demo import seed_demo_whitelist

PHONE, DESK = 390, 1280
LONG_SUBJECT = "Invoice for March looks higher than the usage we measured on our side of the integration"
LONG_FILE = "certificate-of-incorporation-acme-payments-ltd-2025-signed-and-countersigned-copy.txt"
LONG_DESCRIPTION = "Payment servers in the London data centre, rack 12, behind the new load balancer"
LONG_EMAIL = "carla.colleague.with-a-rather-long-address@acme-payments-example.co.uk"


# --- The URLs, from the URL configuration ---------------------------------------------------------


# Whole URL spaces that are not pages for people.
NOT_PAGE_PREFIXES = {"api/platform/": "the platform's machine-to-machine API (JSON, a bearer key)"}

DOWNLOAD, POST_ONLY = "a download, not a page", "an action: POST only"
NOT_PAGES = {
    "health": "the containers' healthcheck (JSON)",
    "error-log-export": DOWNLOAD,
    "usage-export": DOWNLOAD,
    "audit-export": DOWNLOAD,
    "billing-pdf": DOWNLOAD,
    "file-download": DOWNLOAD,
    "ticket-attachment": DOWNLOAD,
    "logout": POST_ONLY,
    "onboarding-phone-resend": POST_ONLY,
    "onboarding-phone-later": POST_ONLY,
    "company-change-request": POST_ONLY,
    "user-deactivate": POST_ONLY,
    "user-reactivate": POST_ONLY,
    "user-resend-welcome": POST_ONLY,
    "token-enable": POST_ONLY,
    "token-unlock": POST_ONLY,
    "ticket-close": POST_ONLY,
    "alarm-webhook-rotate": POST_ONLY,
    "alarm-webhook-test": POST_ONLY,
    "ticket-reopen": POST_ONLY,
    "extract-request": POST_ONLY,
    "extract-schedule": POST_ONLY,
    "extract-schedule-cancel": POST_ONLY,
    "file-upload": "an action: POST only (a GET goes back to the list)",
}


# --- Who looks, and the objects the addresses name ------------------------------------------------


@dataclass
class Objects:
    """The people and the objects of the organisation the pages are about."""

    owner: User
    member: User
    token_id: int
    hardware_token_id: int
    ticket_id: int
    file_id: int
    extract_file_id: int
    entry_id: int
    invoice_id: int
    api_key_id: int
    alarm_id: int
    error_id: int  # a failed call in the error log, for "Ask support"
    error_ticket_id: int  # the ticket opened that way: its page shows the call
    api_key_secret: str  # shown once, on the page the owner's session is sent to after creating the key
    reset_address: str
    reset_lands: str  # where the reset link sends the browser on (the token leaves the address)
    newcomers: dict[str, User]  # by the set-up step they are at


Addresses = Callable[[Objects], list[str]]


@dataclass(frozen=True)
class PageSpec:
    """Who looks at a page (a key of VISITORS), and at which addresses."""

    visitor: str
    addresses: Addresses


def at(name: str, **ids: Callable[[Objects], int]) -> Addresses:
    return lambda o: [reverse(name, kwargs={key: pick(o) for key, pick in ids.items()})]


def kinds(name: str, **ids: Callable[[Objects], int]) -> Addresses:
    """One address per kind of token."""
    return lambda o: [
        reverse(name, kwargs={"kind": kind, **{key: pick(o) for key, pick in ids.items()}}) for kind in TokenKind
    ]


def owner(name: str, **ids: Callable[[Objects], int]) -> PageSpec:
    return PageSpec("owner", at(name, **ids))


MEMBER = {"user_id": lambda o: o.member.pk}
TOKEN = {"token_id": lambda o: o.token_id}

PAGES: dict[str, PageSpec] = {
    # Signing in, as someone who is not (yet).
    "login": PageSpec("anonymous", at("login")),
    "login-code": PageSpec("past-password", at("login-code")),
    "password-reset": PageSpec("anonymous", at("password-reset")),
    "password-reset-sent": PageSpec("anonymous", at("password-reset-sent")),
    "password-reset-confirm": PageSpec("anonymous", lambda o: [o.reset_address]),
    "password-reset-complete": PageSpec("anonymous", at("password-reset-complete")),
    # Account set-up, by people at each step.
    "onboarding-password": PageSpec("at-password", at("onboarding-password")),
    "onboarding-authenticator": PageSpec("at-authenticator", at("onboarding-authenticator")),
    "onboarding-phone": PageSpec("at-phone", at("onboarding-phone")),
    # Everything else, as the organisation's admin (who sees the most).
    "reauthenticate": owner("reauthenticate"),
    "home": PageSpec("owner", lambda o: [reverse("home"), reverse("home") + "?days=90"]),  # the longest range
    "error-log": owner("error-log"),
    "profile": owner("profile"),
    "user-list": owner("user-list"),
    "user-add": owner("user-add"),
    "user-detail": owner("user-detail", **MEMBER),
    "user-reset-factors": owner("user-reset-factors", **MEMBER),
    "user-remove": owner("user-remove", **MEMBER),
    "tokens": owner("tokens"),
    "token-add": PageSpec("owner", kinds("token-add")),
    "backup-codes": owner("backup-codes"),
    "user-tokens": owner("user-tokens", **MEMBER),
    "user-token-add": PageSpec("owner", kinds("user-token-add", **MEMBER)),
    "token-detail": owner("token-detail", **TOKEN),
    "token-edit": owner("token-edit", **TOKEN),
    "token-test": owner("token-test", **TOKEN),
    "token-disable": owner("token-disable", **TOKEN),
    "token-delete": owner("token-delete", **TOKEN),
    "token-reset": owner("token-reset", token_id=lambda o: o.hardware_token_id),
    "tickets": owner("tickets"),
    "ticket-new": owner("ticket-new"),
    "ticket-detail": PageSpec(
        "owner",
        lambda o: [reverse("ticket-detail", args=[o.ticket_id]), reverse("ticket-detail", args=[o.error_ticket_id])],
    ),
    "ticket-new-for-error": owner("ticket-new-for-error", error_id=lambda o: o.error_id),
    "resources": owner("resources"),
    "audit-trail": owner("audit-trail"),
    "whitelist": owner("whitelist"),
    "whitelist-add": owner("whitelist-add"),
    "whitelist-edit": owner("whitelist-edit", entry_id=lambda o: o.entry_id),
    "whitelist-remove": owner("whitelist-remove", entry_id=lambda o: o.entry_id),
    "billing": owner("billing"),
    "billing-detail": owner("billing-detail", invoice_id=lambda o: o.invoice_id),
    "files": PageSpec(
        "owner", lambda o: [f"{reverse('files')}?section={section}" for section in ("compliance", "other", "extracts")]
    ),
    "file-detail": PageSpec(
        "owner",
        lambda o: [reverse("file-detail", args=[o.file_id]), reverse("file-detail", args=[o.extract_file_id])],
    ),
    "file-delete": owner("file-delete", file_id=lambda o: o.file_id),
    "extract-list": owner("extract-list"),
    "extract-key": owner("extract-key"),
    "extract-key-remove": owner("extract-key-remove"),
    "api-keys": owner("api-keys"),
    "api-key-add": owner("api-key-add"),
    "api-key-secret": owner("api-key-secret"),
    "api-key-edit": owner("api-key-edit", key_id=lambda o: o.api_key_id),
    "api-key-roll": owner("api-key-roll", key_id=lambda o: o.api_key_id),
    "api-key-revoke": owner("api-key-revoke", key_id=lambda o: o.api_key_id),
    "alarms": owner("alarms"),
    "alarm-add": owner("alarm-add"),
    "alarm-edit": owner("alarm-edit", alarm_id=lambda o: o.alarm_id),
    "alarm-delete": owner("alarm-delete", alarm_id=lambda o: o.alarm_id),
    "alarm-history": owner("alarm-history"),
    "alarm-webhook": owner("alarm-webhook"),
    "alarm-webhook-remove": owner("alarm-webhook-remove"),
    "alarm-webhook-deliveries": owner("alarm-webhook-deliveries"),
}


def test_every_url_is_a_page_or_says_why_not():
    missing, both = [], []
    for url in portal_urls():
        if any(url.route.startswith(prefix) for prefix in NOT_PAGE_PREFIXES):
            continue
        if url.key not in PAGES and url.key not in NOT_PAGES:
            missing.append(f"/{url.route} ({url.key})")
        if url.key in PAGES and url.key in NOT_PAGES:
            both.append(url.key)
    known = {url.key for url in portal_urls()}
    stale = sorted((set(PAGES) | set(NOT_PAGES)) - known)
    assert not missing, f"add these to PAGES (or NOT_PAGES, saying why) in {__name__}: {missing}"
    assert not both and not stale, (both, stale)


# --- The organisation ------------------------------------------------------------------------------


def _newcomer(**fields: Any) -> User:
    return NewUserFactory.create(**fields)


def build_objects() -> Objects:
    organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    boss = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    member = UserFactory.create(organisation=organisation, email=LONG_EMAIL, full_name="Carla Colleague")
    outsider = AdminFactory.create(email="globex@example.com")
    world = World(
        organisation=organisation, owner=boss, member=member, newcomer=member, outsider=outsider, platform_key=""
    )

    # What the demo organisation holds: 95 days of usage and vault counts and ~200 failed calls, a whitelist, invoices.
    seed_demo_usage(organisation=organisation)
    seed_demo_whitelist(organisation)
    seed_demo_invoices(organisation)
    seed_resource_links()
    seed_demo_alarms(organisation=organisation, admin=boss)  # alarms, their history, a webhook and its deliveries
    error_ticket = seed_demo_error_ticket(user=boss)  # "Ask support" on the latest failed call
    assert error_ticket is not None and error_ticket.error_log_id is not None
    entry = whitelist.add_entry(
        organisation=organisation,
        raw="192.0.2.0/24",
        description=LONG_DESCRIPTION,
        confirm_broad=False,
        acting_user=boss,
    )
    ticket = support.open_ticket(
        acting_user=boss,
        subject=LONG_SUBJECT,
        body="Why is the March invoice higher?\nWe counted fewer calls.",
        category="question",
        participants=[member],
        files=[SimpleUploadedFile(LONG_FILE, b"usage\n", "text/plain")],
    )
    support.add_comment(ticket=ticket, acting_user=member, body="Adding the numbers from our side.")
    stored = files.upload_file(
        acting_user=boss, section="compliance", upload=SimpleUploadedFile(LONG_FILE, b"Certificate\n", "text/plain")
    )
    files.upload_file(
        acting_user=member, section="other", upload=SimpleUploadedFile("notes.txt", b"Notes\n", "text/plain")
    )
    members_token = token(of="member")(world)
    hardware = hardware_token(of="member")(world)
    extract = token_extract(world)
    # Extracts encrypted to the organisation's key: the extract's page shows how to decrypt it.
    extracts.set_extract_key(acting_user=boss, recipient=str(x25519.Identity.generate().to_public()))
    StoredFile.objects.filter(pk=extract.kwargs["file_id"]).update(name=Concat("name", Value(".age")))
    key, secret = apikeys.create_key(
        organisation=organisation,
        name="Checkout servers in Frankfurt and London, production traffic since the 2025 migration",
        methods=["Tokenize", "Detokenize", "Validate", "Search"],
        addresses=["203.0.113.10", "203.0.113.24", "2001:db8:4000::25"],
        acting_user=boss,
    )
    apikeys.roll_key(key=key, overlap=Overlap.DAY, acting_user=boss)  # two secrets for a day
    apikeys.create_key(organisation=organisation, name="Reporting job", methods=["*"], acting_user=boss)
    invoice = Invoice.objects.filter(organisation=organisation).order_by("-issue_date").first()
    assert invoice is not None and Attachment.objects.filter(ticket=ticket).exists()

    at_phone = UserFactory.create(organisation=organisation, email="pat@acme.example", full_name="Pat Phone")
    User.objects.filter(pk=at_phone.pk).update(onboarded_at=None)
    newcomers = {
        "at-password": _newcomer(organisation=organisation, email="nina@acme.example", full_name="Nina Newcomer"),
        "at-authenticator": UserFactory.create(
            organisation=organisation, email="alex@acme.example", full_name="Alex App", onboarded_at=None
        ),
        "at-phone": User.objects.get(pk=at_phone.pk),
    }
    uid = urlsafe_base64_encode(force_bytes(boss.pk))
    return Objects(
        owner=boss,
        member=member,
        token_id=members_token.kwargs["token_id"],
        hardware_token_id=hardware.kwargs["token_id"],
        ticket_id=ticket.pk,
        file_id=stored.pk,
        extract_file_id=extract.kwargs["file_id"],
        entry_id=entry.pk,
        invoice_id=invoice.pk,
        api_key_id=key.pk,
        alarm_id=Alarm.objects.filter(organisation=organisation).values_list("pk", flat=True)[0],
        error_id=error_ticket.error_log_id,
        error_ticket_id=error_ticket.pk,
        api_key_secret=secret,
        reset_address=reverse(
            "password-reset-confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(boss)}
        ),
        reset_lands=reverse("password-reset-confirm", kwargs={"uidb64": uid, "token": "set-password"}),
        newcomers=newcomers,
    )


# --- The browsers ----------------------------------------------------------------------------------


def signed_in(context: BrowserContext, base_url: str, person: User, *, confirmed_password: bool = False) -> Client:
    """The browser carries a session that passed both login steps (as tests.conftest.log_in makes)."""
    client = log_in(Client(), person)
    if confirmed_password:  # the enrolment pages ask for the password again after a while
        session = client.session
        session[reauth.SESSION_KEY] = time.time()
        session.save()
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}])
    return client


def visitor_page(browser: Browser, base_url: str, visitor: str, objects: Objects) -> Page:
    context = browser.new_context(viewport={"width": PHONE, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    if visitor == "owner":
        session = signed_in(context, base_url, objects.owner, confirmed_password=True).session
        # As after creating a key: the secret waits in the session for the page that shows it once.
        session[SECRET_SESSION_KEY] = {"key": objects.api_key_id, "secret": objects.api_key_secret, "change": "created"}
        session.save()
    elif visitor == "past-password":
        enter_password(page, base_url, objects.member)
    elif visitor in objects.newcomers:
        signed_in(context, base_url, objects.newcomers[visitor])
    else:
        assert visitor == "anonymous", visitor
    return page


# What the page looks like, measured in the browser: (what is wrong, where) pairs.
MEASURE = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    const wide = [...document.body.querySelectorAll("*")]
      .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
      .slice(-3).map(e => e.tagName.toLowerCase() + "." + e.className);
    problems.push(["scrolls sideways: " + root.scrollWidth + " px in " + root.clientWidth, wide.join(", ")]);
  }
  for (const steps of document.querySelectorAll("ol.steps")) {
    const tops = new Set([...steps.children].map(li => Math.round(li.getBoundingClientRect().top)));
    if (tops.size > 1) problems.push(["the set-up steps take " + tops.size + " lines", steps.textContent.trim()]);
  }
  return problems;
}"""

# Each visible table fits its box, and each of its rows is one line high.
ROWS = """() => {
  const problems = [];
  for (const table of document.querySelectorAll("table.table")) {
    if (!table.checkVisibility()) continue;
    const name = table.id || (table.caption ? table.caption.textContent : "");
    const wrap = table.closest(".table-wrap");
    if (wrap && wrap.scrollWidth > wrap.clientWidth) {
      problems.push(["a table wider than its box: " + wrap.scrollWidth + " px in " + wrap.clientWidth, name]);
    }
    for (const row of table.tBodies[0] ? table.tBodies[0].rows : []) {
      const style = getComputedStyle(row.cells[0]);
      const height = row.cells[0].clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
      if (height > 1.5 * parseFloat(style.lineHeight)) {
        const text = row.innerText.replace(/\\s+/g, " ").slice(0, 120);
        problems.push(["a row on several lines (" + Math.round(height) + " px high)", text]);
      }
    }
  }
  return problems;
}"""


def look(page: Page, base_url: str, address: str, width: int, *, lands: str) -> list[str]:
    page.set_viewport_size({"width": width, "height": 800})
    response = page.goto(base_url + address)
    where = f"{address} at {width} px"
    if response is None or response.status != 200:
        return [f"{where}: answered {response and response.status}"]
    if urlsplit(page.url).path != lands:
        return [f"{where}: landed on {page.url} instead"]
    # Every menu and disclosure open, so what they hold is measured too.
    page.evaluate("document.querySelectorAll('details').forEach(details => { details.open = true; })")
    problems = page.evaluate(MEASURE) + (page.evaluate(ROWS) if width == DESK else [])
    return [f"{where}: {what} ({detail})" for what, detail in problems]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "vault"])
def test_every_page_fits_a_phone_and_keeps_table_rows_on_one_line(live_server, browser: Browser, console_messages):
    objects = build_objects()
    pages: dict[str, Page] = {}
    problems: list[str] = []
    looked = 0
    for spec in PAGES.values():
        if spec.visitor not in pages:
            pages[spec.visitor] = visitor_page(browser, live_server.url, spec.visitor, objects)
        for address in spec.addresses(objects):
            for width in (PHONE, DESK):
                lands = objects.reset_lands if address == objects.reset_address else urlsplit(address).path
                problems += look(pages[spec.visitor], live_server.url, address, width, lands=lands)
                looked += 1

    assert looked >= 2 * len(PAGES)
    assert not problems, "\n".join(problems)
    assert not [m for m in console_messages if m.startswith(("error", "pageerror"))], console_messages


# --- What a phone shows instead: a Menu button, a compact chart, a row's actions in a menu ----------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "vault"])
def test_a_phone_gets_a_menu_button_a_readable_chart_and_row_menus(live_server, browser: Browser, console_messages):
    objects = build_objects()
    page = visitor_page(browser, live_server.url, "owner", objects)
    page.goto(live_server.url + "/")
    navigation = page.get_by_role("navigation", name="Main")
    billing = navigation.get_by_role("link", name="Billing")

    # On a phone the sections hide behind Menu, which opens from the keyboard; the page stays narrow.
    expect(billing).to_be_hidden()
    navigation.get_by_text("Menu", exact=True).focus()
    page.keyboard.press("Enter")
    expect(billing).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.keyboard.press("Escape")
    expect(billing).to_be_hidden()

    # The usage chart is the compact drawing, its labels at least 11 px high on the screen.
    wide, narrow = page.locator("svg.chart--wide"), page.locator("svg.chart--compact")
    assert wide.count() == narrow.count() == 2  # the usage chart and the vault's history
    for drawing in wide.all():
        expect(drawing).to_be_hidden()
    expect(page.get_by_role("img", name="Tokens in the vault, day by day, with a forecast")).to_be_visible()
    compact = page.get_by_role("img", name="API calls per day, by method")
    expect(compact).to_be_visible()
    heights = compact.locator("text.chart-label").evaluate_all("all => all.map(t => t.getBoundingClientRect().height)")
    assert len(heights) >= 9 and min(heights) >= 11, heights
    ticks = compact.locator("g.chart-axis text.chart-label:not(.chart-label--title)").all_inner_texts()
    assert len(ticks) == 4, ticks

    # On a desk: the links in a row, no Menu button, the wide drawing.
    page.set_viewport_size({"width": DESK, "height": 800})
    expect(billing).to_be_visible()
    expect(navigation.get_by_text("Menu", exact=True)).to_be_hidden()
    # Every section's link in view at once: the row neither scrolls nor hides a link.
    links = navigation.locator(".main-nav__links")
    assert links.evaluate("row => row.scrollWidth <= row.clientWidth"), links.evaluate("row => row.scrollWidth")
    tops = links.locator("a").evaluate_all("all => new Set(all.map(a => a.getBoundingClientRect().top)).size")
    assert tops == 1, "the sections take more than one row at 1280 px"
    for drawing in narrow.all():
        expect(drawing).to_be_hidden()
    for drawing in wide.all():
        expect(drawing).to_be_visible()

    # A file's two actions are in its row's menu: it opens from the keyboard and closes on Escape.
    page.goto(live_server.url + "/files/?section=compliance")
    row = page.get_by_role("row").filter(has_text="certificate-of-incorporation")
    expect(row.get_by_role("cell").first).to_have_attribute("title", LONG_FILE)
    download = row.get_by_role("link", name=f"Download {LONG_FILE}")
    expect(download).to_be_hidden()
    row.get_by_label(f"Actions for {LONG_FILE}").focus()
    page.keyboard.press("Enter")
    expect(download).to_be_visible()
    expect(row.get_by_role("link", name=f"Delete {LONG_FILE}")).to_be_visible()
    page.keyboard.press("Escape")
    expect(download).to_be_hidden()
    assert not [m for m in console_messages if m.startswith(("error", "pageerror"))], console_messages
