"""Browser fixtures: Debian's Chromium driven by Playwright's sync API against pytest-django's live server."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django import db
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch):
    """Playwright's sync API keeps an event loop on the test thread, which makes Django refuse ORM
    calls there (SynchronousOnlyOperation). The test thread only drives the browser and reads
    the database; the live server answers requests in its own thread."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium, or `make browser`)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright runs, the test's ORM calls get their own database connections
            # (another context); close them here, or PostgreSQL cannot drop the test database.
            db.connections.close_all()


@pytest.fixture
def console_messages() -> list[str]:
    """Every console message and page error the browser reported, as "type: text"."""
    return []


@pytest.fixture
def page(browser: Browser, console_messages: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda message: console_messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console_messages.append(f"pageerror: {error}"))
    try:
        yield page
    finally:
        context.close()
