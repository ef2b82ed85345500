"""The list-page isolation check (issue 15.8): pages without an object id never show another
organisation's objects.

The isolation matrix (test_isolation_matrix.py) follows each URL that takes an object id; this
module takes every other URL from the same URL configuration: list pages, forms, CSV exports,
the login and set-up pages, the platform API's collection URLs. Organisation A (Acme) is filled
with one of everything a page could list -- users, tokens, tickets with comments and
attachments, files, invoices, token extracts, whitelist entries, error rows, usage counters, the
vault count, audit events, a company-details request, contact numbers -- each carrying a
unique marker or a distinctive value. Organisation B's admin and one of its plain users then
GET every page, right after A's admin did (so anything a page caches is A's), and no response
(headers and body) may contain any of A's markers or values.

Organisation B is filled the same way, and each page says which of B's own objects it lists:
the page must show them, which proves the check reads the place where a leak would appear.
A URL that nobody described in PAGES fails the run, as in the matrix.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import pytest
from django.http import HttpResponseBase
from django.test import Client
from django.urls import reverse
from pyrage import x25519

from accounts.models import Organisation, User
from audit.services import record
from audit_trail.forms import position_text
from dashboard import summary
from dashboard.models import DailyMethodCount, ErrorLog, VaultStat
from dashboard.selectors import Cursor, utc_today
from extracts.encryption import short_form
from extracts.models import ExtractKey, ExtractRequest
from extracts.models import Status as ExtractStatus
from files.models import Section
from support import services as support
from tests.billing.helpers import grant_billing
from tests.conftest import log_in
from tests.factories import AdminFactory, NewUserFactory, OrganisationFactory, UserFactory
from tests.portal.isolation_objects import (
    World,
    colleague,
    hardware_token,
    invoice,
    stored_file,
    ticket,
    token,
    token_extract,
    whitelist_entry,
)
from tests.portal.url_walk import NOT_OBJECT_IDS, pages_without_an_id
from whitelist import services as whitelist

PAGE_URLS = pages_without_an_id()

# --- What each page is, for organisation B's people -----------------------------------------------

VISITORS = ("admin", "user")  # organisation B's admin, and a plain user of B (no extra permissions)


@dataclass(frozen=True)
class Page:
    """What B's admin and B's plain user get from a URL without an id, and what of B's it lists.

    ``status``: the admin's and the user's status codes. ``shows``: kinds of B's objects (keys of
    ``Filled.shown``) the admin's 200 page must show. ``kwargs``: one set of URL arguments per
    visit (for the token types and file sections). ``queries``: more visits with a query
    string, ``{name}`` filled from organisation A's values (a filter by A's own data); they
    answer the page, or a refusal for a filter that names nothing of the visitor's.
    """

    status: tuple[int, int]
    shows: tuple[str, ...] = ()
    kwargs: tuple[dict[str, str], ...] = ({},)
    queries: tuple[str, ...] = ()


# A filter naming something of another organisation's: the page (empty), or a refusal.
ANSWERS_TO_A_FILTER = {200, 400, 403, 404}

TOKEN_KINDS = tuple({"kind": kind} for kind in ("totp", "hotp", "sms", "email", "backup", "passkey"))
SECTIONS = tuple({"section": section} for section in ("compliance", "other", "extracts"))

PAGES: dict[str, Page] = {
    # Public and machine URLs.
    "health": Page(status=(200, 200)),
    "platform-openapi": Page(status=(200, 200)),
    # The platform's write URLs: a bearer key, POST only; a session gets nothing.
    "platform-usage": Page(status=(401, 401)),
    "platform-vault-stats": Page(status=(401, 401)),
    # The dashboard: usage, vault count, recent errors, account and organisation details.
    "home": Page(
        status=(200, 200),
        shows=("usage", "error", "vault", "organisation"),
        queries=("?days=7", "?days=90", "?days=bad"),
    ),
    "usage-export": Page(status=(200, 200), shows=("usage",), queries=("?days=7", "?days=90")),
    "error-log": Page(
        status=(200, 200),
        shows=("error",),
        queries=("?code={error_code}", "?method={usage_method}", "?older={error_cursor}", "?newer={error_cursor}"),
    ),
    "error-log-export": Page(status=(200, 200), shows=("error",), queries=("?code={error_code}",)),
    # Logging in and setting up: a logged-in person is sent on, and nobody's data is shown.
    "login": Page(status=(200, 200)),
    "login-code": Page(status=(302, 302)),
    "logout": Page(status=(405, 405)),
    "password-reset": Page(status=(200, 200)),
    "password-reset-sent": Page(status=(200, 200)),
    "password-reset-complete": Page(status=(200, 200)),
    "onboarding-password": Page(status=(302, 302)),
    "onboarding-authenticator": Page(status=(302, 302)),
    "onboarding-phone": Page(status=(200, 200)),  # a fallback phone can be added after set-up
    "onboarding-phone-resend": Page(status=(405, 405)),
    "onboarding-phone-later": Page(status=(405, 405)),
    "reauthenticate": Page(status=(200, 200)),
    # People.
    "profile": Page(status=(200, 200), shows=("organisation", "numbers")),
    "user-list": Page(status=(200, 403), shows=("user",)),
    "user-add": Page(status=(200, 403)),
    # Second-factor tokens (one's own).
    "tokens": Page(status=(200, 200), shows=("token",)),
    "token-add": Page(status=(200, 200), kwargs=TOKEN_KINDS),
    "backup-codes": Page(status=(200, 200)),
    # Support.
    "tickets": Page(status=(200, 200), shows=("ticket",)),
    "ticket-new": Page(status=(200, 200)),
    "resources": Page(status=(200, 200)),
    "company-change-request": Page(status=(405, 405)),  # the form is on the profile page
    # Audit trail (admins only), filtered by one of A's people too.
    "audit-trail": Page(
        status=(200, 403),
        shows=("audit",),
        queries=("?actor={owner_id}", "?action=token.enrolled", "?target={audit_marker}", "?before={audit_cursor}"),
    ),
    "audit-export": Page(status=(200, 403), shows=("audit",), queries=("?actor={owner_id}", "?target={audit_marker}")),
    # Whitelist (plain users read it).
    "whitelist": Page(status=(200, 200), shows=("whitelist",)),
    "whitelist-add": Page(status=(200, 403)),
    # Invoices (every user sees them by default).
    "billing": Page(status=(200, 200), shows=("invoice",)),
    # The File Manager, one section at a time (token extracts are the admins').
    "files": Page(
        status=(200, 200),
        shows=("compliance file",),
        queries=("?section=compliance", "?section=other", "?section=extracts"),
    ),
    "file-upload": Page(status=(302, 302), kwargs=SECTIONS[:2]),  # the form is on the files page
    # Token extracts (admins only).
    # Error alarms: everyone reads them and their history; admins change them and the webhook.
    "alarms": Page(status=(200, 200)),
    "alarm-add": Page(status=(200, 403)),
    "alarm-history": Page(status=(200, 200)),
    "alarm-webhook": Page(status=(200, 403)),
    "alarm-webhook-deliveries": Page(status=(200, 403)),
    "alarm-webhook-remove": Page(status=(302, 403)),  # no webhook yet: back to the webhook page
    "alarm-webhook-rotate": Page(status=(405, 405)),
    "alarm-webhook-test": Page(status=(405, 403)),
    # API keys: everyone reads the list; creating one takes the permission.
    "api-keys": Page(status=(200, 200)),
    "api-key-add": Page(status=(200, 403)),
    "api-key-secret": Page(status=(302, 302)),  # no secret waiting: back to the list
    "extract-list": Page(status=(200, 403), shows=("extract",)),
    "extract-request": Page(status=(405, 405)),
    "extract-schedule": Page(status=(405, 405)),
    "extract-schedule-cancel": Page(status=(405, 405)),
    # The key extracts are encrypted to (admins only; each organisation has set its own).
    "extract-key": Page(status=(200, 403), shows=("extract key",)),
    "extract-key-remove": Page(status=(200, 403), shows=("extract key",)),
}

# --- Two organisations, filled ---------------------------------------------------------------------


@dataclass
class Filled:
    """One organisation's people and what its pages may show."""

    organisation: Organisation
    admin: User
    user: User
    # Texts only this organisation's people may ever read: markers, names, addresses, numbers.
    secrets: set[str] = field(default_factory=set)
    # One marker per kind of object, for the pages that list that kind.
    shown: dict[str, str] = field(default_factory=dict)
    # Values to put in query strings (a filter by this organisation's own data).
    values: dict[str, Any] = field(default_factory=dict)


def spellings(number: int) -> set[str]:
    """How a page may print a count: plain, with commas, with (narrow) non-breaking spaces."""
    grouped = f"{number:,}"
    return {str(number), grouped, grouped.replace(",", "\u00a0"), grouped.replace(",", "\u202f")}


def fill(world: World, *, tag: str, seed: int) -> Filled:
    """One of everything a page could list, each with a marker; ``seed`` makes the numbers distinct."""
    organisation, admin, user = world.organisation, world.owner, world.member
    filled = Filled(organisation=organisation, admin=admin, user=user)

    def keep(kind: str | None, *texts: str) -> None:
        filled.secrets.update(texts)
        if kind is not None:
            filled.shown.setdefault(kind, texts[0])

    # The organisation's own details and people.
    address_marker = world.marker()
    Organisation.objects.filter(pk=organisation.pk).update(
        address=f"{seed} {address_marker} Street\nLondon", vat_number=f"GB{seed:09d}"
    )
    organisation.refresh_from_db()
    keep("organisation", organisation.name)
    filled.secrets.update({organisation.public_id, address_marker, organisation.vat_number})
    for person in (admin, user, world.newcomer):
        keep(None, person.email, person.full_name)
    User.objects.filter(pk=admin.pk).update(mobile=f"+447700{900000 + seed}")
    keep("numbers", f"{900000 + seed}")

    # Objects built as the isolation matrix builds them (each target carries its marker).
    builders = {
        "user": colleague(),
        "invited user": colleague(invited=True),
        "token": token(of="owner"),
        "member's token": token(of="member"),
        "hardware token": hardware_token(of="member"),
        "ticket": ticket(include_member=True),
        "closed ticket": ticket(include_member=False, closed=True),
        "whitelist": whitelist_entry,
        "invoice": invoice(),
        "draft invoice": invoice(published=False),
        "file": stored_file(by="owner", section=Section.OTHER),
        "compliance file": stored_file(by="member", section=Section.COMPLIANCE),
        "extract": token_extract,
    }
    for kind, build in builders.items():
        keep(kind, *build(world).secrets)

    # A whitelist entry with a distinctive network of its own.
    network = f"2001:db8:{seed:x}::/48"
    whitelist.add_entry(organisation=organisation, raw=network, description=f"IPv6 {world.marker()}", acting_user=admin)
    keep(None, network)

    # What the platform reported: usage of a method of this organisation's own, failed calls, vault size.
    today = utc_today()
    method = f"Tokenize{tag}"
    calls = 7_000_000 + seed * 3_571
    DailyMethodCount.objects.create(organisation=organisation, method=method, day=today, calls=calls, errors=1)
    error_marker = world.marker()
    error_code = f"E_{error_marker.upper()}"
    error = ErrorLog.objects.create(
        organisation=organisation,
        at=datetime.now(UTC) - timedelta(minutes=5),
        method=method,
        code=error_code,
        message=f"The value did not match {error_marker}",
        request_id=f"req_{error_marker}",
        source_ip=f"203.0.113.{seed}",
    )
    tokens_in_vault = 8_000_000 + seed * 7_919
    VaultStat.objects.create(
        organisation=organisation, at=datetime.now(UTC) - timedelta(hours=1), token_count=tokens_in_vault
    )
    summary.bump([organisation.pk])
    keep("usage", method)
    keep("error", error_code, error_marker, f"req_{error_marker}")
    filled.secrets.update(spellings(calls) | spellings(tokens_in_vault))
    filled.shown["vault"] = f"{tokens_in_vault:,}"

    # A token extract that failed, with its reason; the admin's own audit events.
    failure = world.marker()
    ExtractRequest.objects.create(
        organisation=organisation, requested_by=admin, status=ExtractStatus.FAILED, failure_reason=f"Vault {failure}"
    )
    keep(None, failure)
    extract_key = str(x25519.Identity.generate().to_public())
    ExtractKey.objects.create(organisation=organisation, recipient=extract_key, set_by=admin, set_at=datetime.now(UTC))
    keep("extract key", extract_key, short_form(extract_key))
    audit_marker = world.marker()
    audit_event = record(
        action="token.enrolled", actor=admin, subject_user=user, target=f"Authenticator app ({audit_marker})"
    )
    keep("audit", audit_marker)

    # A company-details request, which is also a ticket.
    change = world.marker()
    support.request_company_details_change(
        acting_user=admin, changes={"name": f"{organisation.name} {change}"}, message=f"We were renamed {change}."
    )
    keep(None, change)

    filled.values = {
        "owner_id": admin.pk,
        "error_code": error_code,
        "usage_method": method,
        # A page of the error log that starts just after A's row: organisation A would see it there.
        "error_cursor": str(Cursor(at=error.at + timedelta(seconds=1), id=error.pk + 1)),
        "audit_marker": audit_marker,
        # A page of the audit trail that starts just after A's event: organisation A would see it there.
        "audit_cursor": position_text((audit_event.at + timedelta(seconds=1), audit_event.pk + 1)),
    }
    return filled


@pytest.fixture
def organisations(db, organisation, owner, member) -> tuple[Filled, Filled]:
    """Organisation A (Acme: the owner and the member) and organisation B (Globex), both filled."""
    numbers = itertools.count(1)
    globex = OrganisationFactory.create(name="Globex Corp")
    b_admin = AdminFactory.create(organisation=globex, email="admin@globex.example", full_name="Gail Globex")
    # A plain user as an admin adds one today: invoices visible, nothing else granted.
    b_user = grant_billing(UserFactory.create(organisation=globex, email="user@globex.example", full_name="Gus Globex"))
    worlds = (
        World(
            organisation=organisation,
            owner=owner,
            member=member,
            newcomer=NewUserFactory.create(
                organisation=organisation, email="newcomer@acme.example", full_name="Nina Newcomer"
            ),
            outsider=b_admin,
            platform_key="",
            _numbers=numbers,
        ),
        World(
            organisation=globex,
            owner=b_admin,
            member=b_user,
            newcomer=NewUserFactory.create(organisation=globex, email="new@globex.example", full_name="Nell Globex"),
            outsider=owner,
            platform_key="",
            _numbers=numbers,
        ),
    )
    return fill(worlds[0], tag="Acme", seed=41), fill(worlds[1], tag="Globex", seed=73)


# --- The check -------------------------------------------------------------------------------------


def _text(response: HttpResponseBase) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return headers + "\n\n" + response.getvalue().decode("utf-8", errors="replace")


def visits(url_name: str, page: Page, values: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """Each address to visit, and whether it is a plain visit (not a filter by A's data)."""
    for kwargs in page.kwargs:
        path = reverse(url_name, kwargs=kwargs)
        yield path, True
        for query in page.queries:
            yield path + query.format(**values), False


def _cases() -> Iterator[Any]:
    for name in sorted(PAGE_URLS):
        if name not in PAGES:
            yield pytest.param(name, id=f"{name}-MISSING")
        else:
            yield pytest.param(name, id=name)


@pytest.mark.parametrize("url_name", list(_cases()))
def test_no_page_without_an_id_shows_another_organisations_objects(url_name, organisations):
    if url_name not in PAGES:
        url = PAGE_URLS[url_name]
        pytest.fail(
            f"/{url.route} ({url_name}) takes no object id, so nobody checks it shows only the visitor's "
            "organisation: add it to PAGES in tests/portal/test_isolation_list_pages.py"
        )
    acme, globex = organisations
    page = PAGES[url_name]
    # Acme's admin has just looked: whatever the page caches (dashboard fragments) is Acme's now.
    acme_client = log_in(Client(raise_request_exception=False), acme.admin)
    for path, plain in visits(url_name, page, globex.values):
        if plain:
            acme_client.get(path)
    problems = []
    for visitor, expected in zip(VISITORS, page.status, strict=True):
        client = log_in(Client(raise_request_exception=False), getattr(globex, visitor))
        for path, plain in visits(url_name, page, acme.values):
            response = client.get(path)
            where = f"Globex's {visitor} GET {path}"
            allowed = {expected} if plain or expected != 200 else ANSWERS_TO_A_FILTER
            if response.status_code not in allowed:
                problems.append(
                    f"{where}: expected {' or '.join(map(str, sorted(allowed)))}, got {response.status_code}"
                )
            text = _text(response)
            # What the visitor typed into the address comes back in the form: it was theirs already.
            typed = unquote_plus(urlsplit(path).query)
            leaked = sorted(secret for secret in acme.secrets if secret in text and secret not in typed)
            if leaked:
                problems.append(f"{where}: the response ({response.status_code}) shows Acme's {leaked}")
            if plain and visitor == "admin" and response.status_code == 200:
                missing = [kind for kind in page.shows if globex.shown[kind] not in text]
                if missing:
                    problems.append(
                        f"{where}: does not show Globex's own {[globex.shown[k] for k in missing]} ({missing}); "
                        "the leak check would miss a leak there"
                    )
    assert not problems, "\n".join(problems)


def test_every_page_the_table_names_exists():
    stale = sorted(set(PAGES) - set(PAGE_URLS))
    assert not stale, f"PAGES names URLs that take an object id or do not exist: {stale}"


def test_the_pages_take_only_shared_arguments():
    """Token types and file sections are the same for everyone; every other argument is an object id."""
    for name, url in PAGE_URLS.items():
        assert set(url.arguments) <= set(NOT_OBJECT_IDS), name
        if url.arguments:
            assert all(set(kwargs) == set(url.arguments) for kwargs in PAGES[name].kwargs), name


def test_both_organisations_are_filled_apart(organisations):
    """The markers of one organisation never occur in the other's: a shown one proves a real list."""
    acme, globex = organisations
    assert acme.shown.keys() >= {kind for page in PAGES.values() for kind in page.shows}
    assert not [secret for secret in acme.secrets if any(secret in other for other in globex.secrets)]
    assert not [secret for secret in globex.secrets if any(secret in other for other in acme.secrets)]
