"""The portal's URLs, read from the URL configuration itself, for the tests generated from it.

The isolation matrix (test_isolation_matrix.py) takes the URLs with an object id, the list-page
check (test_isolation_list_pages.py) the others: a URL added later is in one of the two lists
and fails its test until someone says what it should do.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

# URL arguments that choose among fixed values every organisation shares, not objects.
NOT_OBJECT_IDS = {
    "kind": "a token type (totp, hotp, sms, email, backup)",
    "section": "a File Manager section (compliance, other, extracts)",
}


@dataclass(frozen=True)
class PortalUrl:
    key: str  # the URL's name, or its route when it has none
    route: str
    arguments: tuple[str, ...]


def _walk(patterns: list[Any], prefix: str = "", arguments: tuple[str, ...] = ()) -> Iterator[PortalUrl]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        regex = entry.pattern.regex
        names = tuple(regex.groupindex)
        # Unnamed regex groups are arguments too: list them so they cannot slip through.
        names += tuple(f"<group {n}>" for n in range(regex.groups - len(regex.groupindex)))
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue  # the Django admin (support staff only) has its own tests
            yield from _walk(entry.url_patterns, route, arguments + names)
        elif isinstance(entry, URLPattern):
            yield PortalUrl(key=entry.name or route, route=route, arguments=arguments + names)


def _is_static(route: str) -> bool:
    prefixes = [settings.STATIC_URL, settings.MEDIA_URL]
    return any(p and p.strip("/") and route.startswith(p.lstrip("/")) for p in prefixes)


def portal_urls() -> list[PortalUrl]:
    """Every URL of the portal but the admin and static files."""
    return [url for url in _walk(get_resolver().url_patterns) if not _is_static(url.route)]


def object_urls() -> dict[str, PortalUrl]:
    """Every portal URL with an object id among its arguments, by name."""
    return {url.key: url for url in portal_urls() if set(url.arguments) - set(NOT_OBJECT_IDS)}


def pages_without_an_id() -> dict[str, PortalUrl]:
    """Every portal URL that names no object: list pages, forms, exports, the login pages."""
    return {url.key: url for url in portal_urls() if not set(url.arguments) - set(NOT_OBJECT_IDS)}
