"""The organisation isolation matrix (SPEC §8: "an organisation's data is never visible to another
organisation, whatever the URL or id").

The URLs come from the URL configuration itself: every portal URL that takes an object id is
visited, with GET and POST, by six visitors, and a URL nobody described in EXPECTATIONS fails the
run. The visitors:

- ``owner``: admin of organisation A, which owns the object;
- ``member``: a plain user of organisation A;
- ``outsider``: admin of organisation B;
- ``anonymous``: nobody logged in;
- ``newcomer``: a user of organisation A who has not finished account setup;
- ``platform``: the platform's machine client, a bearer key and no session.

For each visit: the status the table expects (a login or setup redirect where the table says so),
never a 500, none of the object's text in a response to someone not allowed to see it (and never
organisation A's name for people outside it), no email, and the object unchanged unless the
visitor was allowed to change it. Each visitor gets a freshly built object.
"""

import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.http import HttpResponseBase
from django.test import Client
from django.test.client import ClientHandler
from django.urls import reverse

from platform_api import services as platform_keys
from tests.conftest import log_in
from tests.factories import NewUserFactory
from tests.portal.isolation_objects import (
    HARDWARE_RESYNC,
    Builder,
    World,
    alarm,
    api_key,
    attachment_on_the_outsiders_ticket,
    colleague,
    error_row,
    hardware_token,
    invoice,
    platform_api_keys,
    platform_whitelist,
    reset_link,
    stored_file,
    ticket,
    ticket_attachment,
    token,
    token_extract,
    token_page,
    whitelist_entry,
)
from tests.portal.url_walk import object_urls

# --- The URLs under test, read from the URL configuration -----------------------------------------

OBJECT_URLS = object_urls()

# --- What each visitor should get -----------------------------------------------------------------

VISITORS = ("owner", "member", "outsider", "anonymous", "newcomer", "platform")
# Visitors who are not people of organisation A: its name never appears in what they get.
OUTSIDE_THE_ORGANISATION = ("outsider", "anonymous", "platform")

LOGIN: Literal["login"] = "login"  # 302 to /login/?next=<the address asked for>
SETUP: Literal["setup"] = "setup"  # 302 to the account-setup step the newcomer is at
Outcome = int | Literal["login", "setup"]
# Outcomes of a visitor who reached the object (405: found, then the method was refused).
REACHED = (200, 302, 400, 405)

# How the rest of the world fares on a portal page: the outsider's id lookup is a 404, and
# neither a missing login, an unfinished setup nor a platform key opens a portal page.
PORTAL_DEFAULTS: Mapping[str, Outcome] = {"outsider": 404, "anonymous": LOGIN, "newcomer": SETUP, "platform": LOGIN}


def expect(owner: Outcome, member: Outcome) -> Mapping[str, Outcome]:
    return {"owner": owner, "member": member, **PORTAL_DEFAULTS}


def everyone(outcome: Outcome, **but: Outcome) -> Mapping[str, Outcome]:
    return {visitor: but.get(visitor, outcome) for visitor in VISITORS}


Kind = Literal["portal", "platform", "public"]


@dataclass(frozen=True, eq=False)
class Case:
    """One kind of object a URL is about, and what each visitor gets with GET and POST.

    ``kind``: "portal" pages need a session; "platform" URLs need a bearer key and ignore
    sessions; "public" pages (a password-reset link) answer anyone the same way.
    """

    label: str
    build: Builder
    get: Mapping[str, Outcome]
    post: Mapping[str, Outcome]
    data: Mapping[str, Any] = field(default_factory=dict)  # the POST form: harmless for the owner
    query: str = ""  # appended to the address, for views that need a query string
    post_changes: bool = False  # an allowed POST (302) changes the object: the "unchanged" check can fail
    shows: bool = True  # the allowed GET page shows the object's text: the "secrets" check can fail
    kind: Kind = "portal"
    sees: tuple[str, ...] | None = None  # who may read the object's text; None: who reached it

    def outcomes(self, method: str) -> Mapping[str, Outcome]:
        return self.get if method == "get" else self.post

    def may_see(self, visitor: str, method: str) -> bool:
        if self.sees is not None:
            return visitor in self.sees
        return self.outcomes(method)[visitor] in REACHED


GRANT_BILLING = {"role": "user", "permissions": ["view_billing"]}
ALARM_CHANGE = {"name": "Renamed alarm", "metric": "error_count", "window_minutes": "60", "threshold": "50"}
WHITELIST_CHANGE = {"description": "Renamed entry"}  # no owner sent: the entry keeps its owner
ERROR_TICKET = {"subject": "Why did this fail?", "category": "problem", "body": "It worked yesterday."}
NEW_PASSWORD = {"new_password1": "Isolation-matrix-1", "new_password2": "Isolation-matrix-1"}
PLATFORM_READ = everyone(401, platform=200)
PLATFORM_WRITE = everyone(401, platform=405)  # the whitelist is read-only for the platform


def token_cases(
    *,
    get: tuple[Outcome, Outcome],
    post: tuple[Outcome, Outcome],
    make: Callable[[str], Builder] = lambda of: token(of=of),
    **options: Any,
) -> tuple[Case, ...]:
    """A token of the member (theirs to manage) and one of the owner (not the member's business)."""
    return (
        Case("the member's token", make("member"), expect(*get), expect(*post), **options),
        Case("the owner's token", make("owner"), expect(get[0], 404), expect(post[0], 404), **options),
    )


def ticket_cases(
    *, get: tuple[Outcome, Outcome], post: tuple[Outcome, Outcome], closed: bool = False, **options: Any
) -> tuple[Case, ...]:
    """A ticket the owner opened with the member included, and one without (admins see all)."""
    return (
        Case(
            "the member is included", ticket(include_member=True, closed=closed), expect(*get), expect(*post), **options
        ),
        Case(
            "the member is not included",
            ticket(include_member=False, closed=closed),
            expect(get[0], 404),
            expect(post[0], 404),
            **options,
        ),
    )


def file_cases(
    *,
    get: tuple[Outcome, Outcome],
    post: tuple[Outcome, Outcome],
    own: tuple[Outcome, Outcome] | None = None,
    post_changes: bool = False,
) -> tuple[Case, ...]:
    """The owner's file in Other files, the member's own in Compliance, and a token extract (admins only).

    ``own``: the member's (GET, POST) outcomes on their own file, when they differ from ``get``/``post``.
    """
    own_get, own_post = own or (get[1], post[1])
    return (
        Case(
            "the owner's file",
            stored_file(by="owner", section="other"),
            expect(*get),
            expect(*post),
            post_changes=post_changes,
        ),
        Case(
            "the member's compliance file",
            stored_file(by="member", section="compliance"),
            expect(get[0], own_get),
            expect(post[0], own_post),
            post_changes=post_changes,
        ),
        Case("a token extract", token_extract, expect(get[0], 404), expect(post[0], 404), post_changes=post_changes),
    )


EXPECTATIONS: dict[str, tuple[Case, ...]] = {
    # People (admin pages: a plain user is refused before any lookup).
    "user-detail": (
        Case("a colleague", colleague(), expect(200, 403), expect(302, 403), GRANT_BILLING, post_changes=True),
    ),
    "user-deactivate": (Case("a colleague", colleague(), expect(405, 403), expect(302, 403), post_changes=True),),
    "user-reactivate": (
        Case("a deactivated colleague", colleague(active=False), expect(405, 403), expect(302, 403), post_changes=True),
    ),
    "user-resend-welcome": (
        Case("an invited colleague", colleague(invited=True), expect(405, 403), expect(302, 403), post_changes=True),
    ),
    "user-reset-factors": (Case("a colleague", colleague(), expect(200, 403), expect(302, 403), post_changes=True),),
    "user-remove": (Case("a colleague", colleague(), expect(200, 403), expect(302, 403), post_changes=True),),
    "user-tokens": (
        Case("the member's tokens", token_page(of="member"), expect(200, 200), expect(200, 200)),
        Case("the owner's tokens", token_page(of="owner"), expect(200, 403), expect(200, 403)),
    ),
    "user-token-add": (
        Case("an app for the member", token_page(of="member", kind="totp"), expect(200, 200), expect(200, 200)),
        Case("an app for the owner", token_page(of="owner", kind="totp"), expect(200, 403), expect(200, 403)),
    ),
    # Second-factor tokens.
    "token-detail": token_cases(get=(200, 200), post=(200, 200)),
    "token-edit": token_cases(get=(200, 200), post=(302, 302), data={"description": "Renamed"}, post_changes=True),
    # The test page names the token (its description) and its owner: the leak check looks for it.
    "token-test": token_cases(get=(200, 200), post=(200, 200)),
    # Disabling asks first (a confirmation page, like delete); the POST disables.
    "token-disable": token_cases(get=(200, 200), post=(302, 302), post_changes=True),
    "token-enable": token_cases(
        get=(405, 405), post=(302, 302), make=lambda of: token(of=of, enabled=False), post_changes=True
    ),
    "token-delete": token_cases(get=(200, 200), post=(302, 302), post_changes=True, shows=False),
    "token-reset": token_cases(
        get=(200, 200), post=(302, 302), make=lambda of: hardware_token(of=of), data=HARDWARE_RESYNC, post_changes=True
    ),
    # Unlocking is for admins, even on one's own token.
    "token-unlock": token_cases(
        get=(405, 405), post=(302, 403), make=lambda of: token(of=of, locked=True), post_changes=True
    ),
    # Support tickets.
    "ticket-detail": ticket_cases(get=(200, 200), post=(302, 302), data={"body": "Thanks."}, post_changes=True),
    "ticket-close": ticket_cases(get=(405, 405), post=(302, 302), post_changes=True),
    "ticket-reopen": ticket_cases(get=(405, 405), post=(302, 302), closed=True, post_changes=True),
    "ticket-attachment": (
        Case("the member is included", ticket_attachment(include_member=True), expect(200, 200), expect(200, 200)),
        Case("the member is not included", ticket_attachment(include_member=False), expect(200, 404), expect(200, 404)),
        # The attachment id must belong to the ticket in the address, not just to someone's ticket.
        Case("under the outsider's ticket", attachment_on_the_outsiders_ticket, expect(404, 404), expect(404, 404)),
    ),
    # Whitelist (plain users read it; changing it takes the permission).
    "whitelist-edit": (
        Case("an entry", whitelist_entry, expect(200, 403), expect(302, 403), WHITELIST_CHANGE, post_changes=True),
    ),
    "whitelist-remove": (Case("an entry", whitelist_entry, expect(200, 403), expect(302, 403), post_changes=True),),
    # "Ask support" on an error-log row: everyone in the organisation reads the log and opens tickets.
    "ticket-new-for-error": (
        Case("a failed call", error_row, expect(200, 200), expect(302, 302), ERROR_TICKET, post_changes=True),
    ),
    # Error alarms (admins change them; a plain user is refused before any lookup).
    "alarm-edit": (Case("an alarm", alarm, expect(200, 403), expect(302, 403), ALARM_CHANGE, post_changes=True),),
    "alarm-delete": (Case("an alarm", alarm, expect(200, 403), expect(302, 403), post_changes=True),),
    # API keys (plain users read the list; rolling and revoking take the permission, and each POST
    # needs a recent password, which a fresh login gives).
    "api-key-edit": (
        Case(
            "a key",
            api_key,
            expect(200, 403),
            expect(302, 403),
            {"name": "Renamed", "methods": ["Detokenize"], "addresses": "", "expires_on": ""},
            post_changes=True,
        ),
    ),
    "api-key-roll": (Case("a key", api_key, expect(200, 403), expect(302, 403), {"overlap": "1h"}, post_changes=True),),
    "api-key-revoke": (Case("a key", api_key, expect(200, 403), expect(302, 403), post_changes=True),),
    # Invoices (a plain user without "view billing" is refused before any lookup).
    "billing-detail": (
        Case("a published invoice", invoice(), expect(200, 403), expect(200, 403)),
        Case("a draft invoice", invoice(published=False), expect(404, 403), expect(404, 403)),
    ),
    "billing-pdf": (
        # The PDF's text is compressed: its contents are checked in tests/billing/test_pdf.py.
        Case("a published invoice", invoice(), expect(200, 403), expect(200, 403), shows=False),
        Case("a draft invoice", invoice(published=False), expect(404, 403), expect(404, 403)),
    ),
    # File Manager (detail and download answer GET only).
    "file-detail": file_cases(get=(200, 200), post=(405, 405)),
    "file-download": file_cases(get=(200, 200), post=(405, 405)),
    # The uploader or an admin deletes.
    "file-delete": file_cases(get=(200, 403), post=(302, 403), own=(200, 302), post_changes=True),
    # A reset link works for whoever holds it; one with a wrong token tells nobody anything.
    "password-reset-confirm": (
        Case(
            "the owner's account, wrong token",
            reset_link,
            everyone(200),
            everyone(200),
            NEW_PASSWORD,
            kind="public",
            sees=("owner",),
        ),
    ),
    # The platform's read of a whitelist: a bearer key, not a session.
    "platform-whitelist": (
        Case("organisation A's whitelist", platform_whitelist, PLATFORM_READ, PLATFORM_WRITE, kind="platform"),
    ),
    # The platform's read of the keys: hashes and prefixes, never a secret (nor another organisation's keys).
    "platform-keys": (
        Case("organisation A's keys", platform_api_keys, PLATFORM_READ, PLATFORM_WRITE, kind="platform"),
    ),
}

# --- The people and their browsers ----------------------------------------------------------------

_HANDLER = ClientHandler(enforce_csrf_checks=False)


@pytest.fixture
def world(organisation, owner, member, outsider) -> World:
    newcomer = NewUserFactory.create(
        organisation=organisation, email="newcomer@acme.example", full_name="Nina Newcomer"
    )
    _, key = platform_keys.issue_key(name="gateway-eu", acting_user=None)
    return World(
        organisation=organisation, owner=owner, member=member, newcomer=newcomer, outsider=outsider, platform_key=key
    )


@pytest.fixture
def browsers(world: World) -> dict[str, Client]:
    """One client per visitor; a 500 comes back as a response (with its traceback), not an exception."""
    clients = {visitor: Client(raise_request_exception=False) for visitor in VISITORS}
    clients["platform"] = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {world.platform_key}")
    for client in clients.values():
        # One handler (and so one middleware chain to build) for all of them: the chain is the
        # slow part of a client's first request, and it holds no state of its own.
        client.handler = _HANDLER
    for visitor in ("owner", "member", "outsider", "newcomer"):
        log_in(clients[visitor], getattr(world, visitor))
    return clients


# --- The checks -----------------------------------------------------------------------------------


def _text(response: HttpResponseBase) -> str:
    """Everything a visitor receives: the headers (a download's file name) and the body."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    body = response.getvalue()
    return headers + "\n\n" + body.decode("utf-8", errors="replace")


def _status_problem(expected: Outcome, response: HttpResponseBase, path: str) -> str | None:
    status = response.status_code
    location = response.headers.get("Location", "")
    if expected == LOGIN:
        target = urlsplit(location)
        if status == 302 and target.path == reverse("login") and parse_qs(target.query) == {"next": [path]}:
            return None
        return f"expected a redirect to {reverse('login')}?next={path}, got {status} {location}".rstrip()
    if expected == SETUP:
        if status == 302 and location == reverse("onboarding-password"):
            return None
        return f"expected a redirect to the setup step {reverse('onboarding-password')}, got {status} {location}"
    if status != expected:
        return f"expected {expected}, got {status} {location}".rstrip()
    if status == 302 and urlsplit(location).path in (reverse("login"), reverse("reauthenticate")):
        return f"expected the action to be done, got a redirect to {location}"
    return None


def _server_error(response: HttpResponseBase) -> str:
    exc_info = getattr(response, "exc_info", None)
    return "".join(traceback.format_exception(*exc_info)) if exc_info else ""


def visit(
    url_name: str, case: Case, method: str, visitor: str, client: Client, world: World, capture: Any
) -> list[str]:
    """One visitor's request for a fresh object; what went wrong, in words."""
    target = case.build(world)
    path = reverse(url_name, kwargs=target.kwargs) + case.query
    expected = case.outcomes(method)[visitor]
    may_see = case.may_see(visitor, method)
    before = target.state()
    mail.outbox.clear()
    with capture(execute=True):
        response = client.get(path) if method == "get" else client.post(path, dict(case.data))
    where = f"{visitor} {method.upper()} {path}"
    if response.status_code >= 500:
        return [f"{where}: server error {response.status_code} (expected {expected})\n{_server_error(response)}"]

    problems = []
    if problem := _status_problem(expected, response, path):
        problems.append(f"{where}: {problem}")
    text = _text(response)
    leaked = [secret for secret in target.secrets if secret in text and not may_see]
    leaked += [secret for secret in target.foreign if secret in text]
    if visitor in OUTSIDE_THE_ORGANISATION and world.organisation.name in text:
        leaked.append(world.organisation.name)
    if leaked:
        problems.append(f"{where}: the response ({response.status_code}) shows {leaked}")
    shown = target.shown if may_see and method == "get" and response.status_code == 200 and case.shows else None
    if shown and shown not in text:
        problems.append(f"{where}: the page does not show {shown!r}; the leak check would miss a leak")
    if not may_see and mail.outbox:
        problems.append(f"{where}: sent {[m.subject for m in mail.outbox]}")
    after = target.state()
    changes = method == "post" and case.post_changes and expected == 302
    if changes and after == before:
        problems.append(f"{where}: the POST left the object as it was; the unchanged check would miss a change")
    if not changes and after != before:
        problems.append(f"{where}: the object changed\n  before: {before}\n  after:  {after}")
    return problems


# --- The tests ------------------------------------------------------------------------------------


def _matrix() -> Iterator[Any]:
    for key in sorted(OBJECT_URLS):
        cases = EXPECTATIONS.get(key)
        if not cases:
            yield pytest.param(key, None, "get", id=f"{key}-MISSING")
            continue
        for case in cases:
            for method in ("get", "post"):
                yield pytest.param(key, case, method, id=f"{key}[{case.label}]-{method}")


@pytest.mark.parametrize(("url_name", "case", "method"), list(_matrix()))
def test_only_the_right_people_reach_an_organisations_object(
    url_name, case, method, world, browsers, django_capture_on_commit_callbacks
):
    if case is None:
        url = OBJECT_URLS[url_name]
        pytest.fail(
            f"/{url.route} ({url_name}) takes an object id ({', '.join(url.arguments)}) but has no entry: "
            "add it to EXPECTATIONS in tests/portal/test_isolation_matrix.py"
        )
    problems = []
    for visitor in VISITORS:
        problems += visit(url_name, case, method, visitor, browsers[visitor], world, django_capture_on_commit_callbacks)
    assert not problems, "\n".join(problems)


def test_the_url_configuration_is_read_in_full():
    """The walk finds the ids of nested includes and of the platform API, and leaves out the admin."""
    assert OBJECT_URLS["ticket-attachment"].arguments == ("ticket_id", "attachment_id")
    assert OBJECT_URLS["platform-whitelist"].route == "api/platform/v1/whitelist/<str:public_id>"
    assert OBJECT_URLS["user-token-add"].arguments == ("user_id", "kind")
    assert "token-add" not in OBJECT_URLS  # only a token type: no object of anyone's
    assert not [url for url in OBJECT_URLS.values() if url.route.startswith("admin/")]
    assert reverse("admin:index") == "/admin/"  # the admin is there, and skipped on purpose


def test_expectations_describe_only_urls_that_exist():
    stale = sorted(set(EXPECTATIONS) - set(OBJECT_URLS))
    assert not stale, f"EXPECTATIONS names URLs that take no object id or do not exist: {stale}"


@pytest.mark.parametrize("url_name", sorted(EXPECTATIONS))
def test_expectations_never_let_anyone_outside_the_organisation_in(url_name):
    """A typo in the table cannot turn an outsider's 404 into an expected 200."""
    for case in EXPECTATIONS[url_name]:
        for method in ("get", "post"):
            outcomes = case.outcomes(method)
            assert set(outcomes) == set(VISITORS), (case.label, method)
            if case.kind == "portal":
                assert {v: outcomes[v] for v in PORTAL_DEFAULTS} == PORTAL_DEFAULTS, (case.label, method)
                assert case.sees is None
            elif case.kind == "platform":
                assert all(outcomes[v] == 401 for v in VISITORS if v != "platform"), (case.label, method)
                assert not any(case.may_see(v, method) for v in VISITORS if v != "platform")
            else:  # public: the same answer for everyone, and nothing about the account in it
                assert set(outcomes.values()) == {200} and case.sees == ("owner",), (case.label, method)
