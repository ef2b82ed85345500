"""Pages load their CSS, scripts and images from the portal itself (SPEC §4 "works without any
external network", §8 CSP 'self')."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders


class AssetCollector(HTMLParser):
    """URLs of stylesheets, icons, scripts and images referenced by a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        url = None
        if tag == "link":
            url = attributes.get("href")
        elif tag in {"script", "img", "source"}:
            url = attributes.get("src")
        if url:
            self.urls.append(url)


def assets_of(html: str) -> list[str]:
    parser = AssetCollector()
    parser.feed(html)
    return parser.urls


def assert_served_locally(client, urls: list[str]) -> None:
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is loaded from another site"
        assert parts.path.startswith("/static/"), f"{url} is not a static file of the portal"
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert body, f"{url} is empty"
        assert finders.find(parts.path.removeprefix("/static/")), url


def test_login_page_assets_are_served_by_the_portal(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    urls = assets_of(response.content.decode())
    assert "/static/css/portal.css" in urls
    assert_served_locally(client, urls)


@pytest.mark.parametrize("path", ["/", "/profile/", "/users/"])
def test_portal_page_assets_are_served_by_the_portal(owner_client, path):
    response = owner_client.get(path)
    assert response.status_code == 200
    urls = assets_of(response.content.decode())
    assert "/static/css/portal.css" in urls
    assert "/static/img/favicon.svg" in urls
    assert_served_locally(owner_client, urls)


def test_stylesheet_is_served_as_css(client, db):
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
