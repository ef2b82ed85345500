"""Nothing shown to a signed-in person is kept by a browser or a shared cache (issue 13.6).

Downloads (files, invoices, token extracts), CSV exports and the token pages carried only
``Vary: Cookie``: a shared proxy or the browser's disk cache could keep them for the next user of
the machine. Every response to a session user now says ``Cache-Control: no-store, private``
unless the view chose its own caching; static files and the platform API keep theirs.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from platform_api import services as platform_keys
from tests.factories import NewUserFactory
from tests.portal.isolation_objects import World, invoice, stored_file, token_extract


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def assert_not_stored(response, what: str) -> None:
    directives = cache_control(response)
    assert {"no-store", "private"} <= directives, f"{what}: Cache-Control is {response.get('Cache-Control')!r}"


@pytest.fixture
def world(organisation, owner, member, outsider) -> World:
    newcomer = NewUserFactory.create(organisation=organisation, email="newcomer@acme.example")
    _, key = platform_keys.issue_key(name="gateway-eu", acting_user=None)
    return World(
        organisation=organisation, owner=owner, member=member, newcomer=newcomer, outsider=outsider, platform_key=key
    )


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_downloads_are_not_stored(owner_client, world):
    downloads = {
        "a file": f"/files/{stored_file(by='owner', section='other')(world).kwargs['file_id']}/download/",
        "a token extract": f"/files/{token_extract(world).kwargs['file_id']}/download/",
        "an invoice PDF": f"/billing/{invoice()(world).kwargs['invoice_id']}/pdf/",
    }
    for what, url in downloads.items():
        response = owner_client.get(url)
        assert response.status_code == 200, what
        assert body_of(response), what
        assert_not_stored(response, what)


@pytest.mark.parametrize("url", ["/errors/export.csv", "/audit/export.csv"])
def test_csv_exports_are_not_stored(owner_client, url):
    response = owner_client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert_not_stored(response, url)


@pytest.mark.parametrize("url", ["/", "/tokens/", "/tokens/add/totp/", "/profile/", "/users/", "/billing/"])
def test_portal_pages_are_not_stored(owner_client, url):
    response = owner_client.get(url)

    assert response.status_code == 200
    assert_not_stored(response, url)


def test_token_pages_of_a_colleague_are_not_stored(owner_client, member):
    response = owner_client.get(f"/users/{member.pk}/tokens/")

    assert response.status_code == 200
    assert_not_stored(response, "the member's tokens")


def _plain_routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    """Every route of the URL configuration that takes no argument (the admin aside)."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if entry.pattern.regex.groups:
            continue
        if isinstance(entry, URLResolver):
            if entry.app_name != "admin":
                yield from _plain_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and not route.startswith("api/"):
            yield "/" + route.lstrip("^").rstrip("$")


def test_every_page_a_signed_in_person_gets_is_not_stored(owner_client):
    routes = sorted(set(_plain_routes(get_resolver().url_patterns)))
    assert "/errors/export.csv" in routes and "/tokens/" in routes  # the walk sees the portal

    for route in routes:
        if route == "/logout/":
            continue  # ends the session: checked below
        response = owner_client.get(route)
        if response.status_code < 500:
            assert_not_stored(response, route)


def test_login_page_and_static_files_keep_their_own_caching(client, owner_client):
    anonymous = Client()
    login_page = anonymous.get("/login/")
    assert login_page.status_code == 200
    assert 'name="password"' in login_page.content.decode()
    # Django's never_cache on the login view, unchanged.
    assert {"no-cache", "no-store", "must-revalidate", "private"} <= cache_control(login_page)

    stylesheet = owner_client.get("/static/css/portal.css")
    assert stylesheet.status_code == 200
    assert body_of(stylesheet)
    assert "no-store" not in cache_control(stylesheet)
    assert "max-age" in stylesheet.get("Cache-Control", "")


def test_platform_whitelist_keeps_its_etag_caching(world, owner_client):
    # The platform's client authenticates with a key, never a session: its caching is the view's own.
    platform = Client(HTTP_AUTHORIZATION=f"Bearer {world.platform_key}")
    url = f"/api/platform/v1/whitelist/{world.organisation.public_id}"

    response = platform.get(url)

    assert response.status_code == 200
    assert response.has_header("ETag")
    assert cache_control(response) == {"private", "no-cache"}
    assert platform.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_an_anonymous_page_is_not_marked(client, db):
    response = client.get("/password/reset/")

    assert response.status_code == 200
    assert "no-store" not in cache_control(response)
