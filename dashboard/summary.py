"""The organisation-wide part of the home page, rendered once and cached (SPEC §9).

Every user of an organisation sees the same usage section: the totals, the SVG chart, the
30-day by method table, the vault figures and the latest failures. Drawing it is most of the
page's cost (~800 template nodes), so its HTML is cached per organisation under a version
number that the dashboard's services bump after each stored batch or vault count: new numbers
show on the next request. The UTC day is in the key, so the 30-day window rolls over at
midnight, and the language, for the month names and number formats. The short timeout bounds
how long writes that do not go through the services (the demo data, a manual fix in the
database) can go unseen.
"""

import time
from collections.abc import Iterable
from datetime import date

from django.core.cache import cache
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import SafeString

from accounts.models import User
from dashboard import charts, selectors

CACHE_SECONDS = 60
TEMPLATE = "dashboard/_usage.html"


def _version_key(organisation_id: int) -> str:
    return f"dashboard:summary-version:{organisation_id}"


def _fresh_version() -> int:
    # Not 1: a version key lost from the cache (evicted, flushed) must not reuse an old page's key.
    return time.time_ns()


def version(organisation_id: int) -> int:
    key = _version_key(organisation_id)
    value = cache.get(key)
    if value is None:
        cache.add(key, _fresh_version(), timeout=None)
        value = cache.get(key, _fresh_version())
    return int(value)


def bump(organisation_ids: Iterable[int]) -> None:
    """Make the next request of these organisations render their usage section anew."""
    for organisation_id in set(organisation_ids):
        key = _version_key(organisation_id)
        try:
            cache.incr(key)
        except ValueError:  # no version yet: any new one differs from those of cached pages
            cache.add(key, _fresh_version(), timeout=None)


def bump_after_commit(organisation_ids: Iterable[int]) -> None:
    """bump() once the current transaction commits (at once outside one).

    Before the commit a request could still read the old rows and cache them under the new version.
    """
    ids = set(organisation_ids)
    if ids:
        transaction.on_commit(lambda: bump(ids))


def _render(user: User, today: date) -> str:
    usage = selectors.usage(user=user, today=today)
    context = {
        "usage": usage,
        "chart": charts.line_chart(usage) if usage.total_calls else None,
        "vault": selectors.vault_summary(user=user, since=usage.first_day),
        "recent_errors": selectors.recent_errors(user=user),
    }
    return render_to_string(TEMPLATE, context)


def usage_section(*, user: User) -> SafeString:
    """The usage section's HTML for the user's organisation, from the cache when it is current."""
    today = selectors.utc_today()
    if user.organisation_id is None:
        return SafeString(_render(user, today))
    key = (
        f"dashboard:summary:{user.organisation_id}:{version(user.organisation_id)}:"
        f"{today.isoformat()}:{translation.get_language()}"
    )
    html = cache.get(key)
    if html is None:
        html = _render(user, today)
        cache.set(key, html, CACHE_SECONDS)
    return SafeString(html)
