"""What every fuzzed request must show: no server error, a refusal that says why, nothing half-stored."""

from pathlib import Path
from typing import Any

from axes.utils import reset as reset_axes
from django.conf import settings
from django.core.cache import cache
from django.db.models import Model

from tests.conftest import page_text as page

# How the portal shows a refusal: a field's error, the form's own errors, a flash message, a failed test.
REFUSAL_MARKERS = ('class="error"', 'class="form-errors"', "message--error", "message--warning", "result--fail")


def says_why(response: Any) -> bool:
    text = page(response)
    return any(marker in text for marker in REFUSAL_MARKERS)


def assert_refused(response: Any) -> None:
    """Refused input: a redirect, or the page again (200 or 400) with a message saying what is wrong.

    A server error never gets here: the test client raises the view's exception instead.
    """
    assert response.status_code in (200, 302, 400), response.status_code
    if response.status_code != 302:
        assert says_why(response), f"refused without a message ({response.status_code})"


def sent(response: Any, key: str) -> str:
    """The value the view read for ``key`` (the last one when the key came several times)."""
    value: str = response.wsgi_request.POST.get(key, "")
    return value


def sent_none_of(response: Any, *keys: str) -> bool:
    """Whether a POST carried none of the fields by which a page with several forms tells which one
    was sent. It then shows the page again (200) without a message: no browser sends that."""
    return not any(key in response.wsgi_request.POST for key in keys)


def assert_filter_page(response: Any, *, bad_filter_status: int) -> bool:
    """A list page under any query string: 200, or ``bad_filter_status`` with the reason on the page.

    Returns whether the filters were refused.
    """
    assert response.status_code in (200, bad_filter_status), response.status_code
    refused = says_why(response)
    if response.status_code != 200:
        assert refused, "filters refused without a message"
    return refused


def counts(*models: type[Model]) -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in models}


def stored_objects() -> list[Path]:
    """Every object in the private storage folder (customer files, attachments)."""
    root = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def forget_rate_limits() -> None:
    """Each example starts with no rate-limit counters and no django-axes lockout.

    Hundreds of posts to the login, code and reset paths would otherwise hit the limits after a
    handful of examples, and every later example would only see the lockout page.
    """
    cache.clear()
    reset_axes()
