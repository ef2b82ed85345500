"""The home page's cached parts (SPEC §9): the organisation's usage and the user's account.

Every user of an organisation sees the same usage section for a range (7, 30 or 90 days): the
totals, the SVG chart, the by-method tables, the vault figures with their history and forecast,
and the latest failures. Drawing it is most of the page's cost (~800 template nodes at 30 days),
so its HTML is cached per organisation and range under the version
``usage:<organisation>``, which the dashboard's services bump after each stored batch or vault
count: new numbers show on the next request. The user's own part (the fallback-phone reminder,
account facts, second factors, requests with support) is cached per user under the versions
``account:<user>``, ``organisation:<organisation>`` and ``token-types`` (the labels support
gives the kinds of token), which dashboard/signals.py bumps on every save or delete of the rows
it shows; it is never kept past a token's expiry.

Both are read with their versions in one cache round trip (portal/fragments.py). The UTC day
is in the usage key, so the range rolls over at midnight, and the language, for the
month names and number formats. The short timeouts bound how long writes that go around the
ORM (bulk SQL, a manual fix in the database) can go unseen.
"""

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.template.loader import render_to_string
from django.utils import dateformat, timezone, translation
from django.utils.formats import get_format
from django.utils.safestring import SafeString

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import User
from accounts.permissions import Abilities
from common import fragments
from common.replica import REPLICA, lag_tolerant
from dashboard import charts, forecast, selectors
from tokens import selectors as token_selectors

USAGE_SECONDS = 60
# Drawn from a read replica, the section may miss the batch whose bump made it be drawn (the replica
# had not replayed it yet): kept this long only, so the lag shows for seconds, not a minute.
USAGE_SECONDS_FROM_REPLICA = 5
ACCOUNT_SECONDS = 60
USAGE_TEMPLATE = "dashboard/_usage.html"
ACCOUNT_TEMPLATE = "dashboard/_account.html"
REMINDER_TEMPLATE = "dashboard/_fallback_reminder.html"


def usage_version(organisation_id: int) -> str:
    return f"usage:{organisation_id}"


def account_version(user_id: int) -> str:
    return f"account:{user_id}"


def organisation_version(organisation_id: int) -> str:
    return f"organisation:{organisation_id}"


TOKEN_TYPES_VERSION = "token-types"  # the labels support gives each kind of token


def bump(organisation_ids: Iterable[int]) -> None:
    """Make the next request of these organisations' users render their usage section anew."""
    fragments.bump(usage_version(organisation_id) for organisation_id in organisation_ids)


@dataclass(frozen=True)
class HomeSections:
    reminder: SafeString
    usage: SafeString
    account: SafeString


@dataclass(frozen=True)
class DayRow:
    """A row of a day-by-day table, written out before the template: at 90 days the tables hold
    ~1,300 numbers, and the template's date and number filters cost more than the rest of the
    section together (measured: docs/performance.md)."""

    label: str  # "Thu 3 Dec 2026": the weekday, then the portal's date format
    cells: list[str]  # grouped by thousands, as floatformat:"g" writes them on the other figures


@functools.lru_cache(maxsize=1024)
def _day_label(day: date, language: str) -> str:
    """The weekday and the portal's date format in the active language (what ``{{ day|date:"D" }}
    {{ day|date }}`` writes): ~50 µs each through Django's translations, so kept for the next drawing."""
    return dateformat.format(day, "D " + str(get_format("DATE_FORMAT")))


def _day_rows(rows: list[tuple[date, list[int]]]) -> list[DayRow]:
    language = translation.get_language()
    return [DayRow(label=_day_label(day, language), cells=[f"{n:,}" for n in numbers]) for day, numbers in rows]


def _vault_chart(
    readings: list[selectors.VaultReading], outlook: forecast.Outlook, usage: selectors.Usage, layout: charts.Layout
) -> charts.LineChart | None:
    if not readings:
        return None
    return charts.vault_chart(
        readings, outlook.forecast, first_day=usage.first_day, last_day=usage.last_day, layout=layout
    )


def _render_usage(user: User, today: date, days: int) -> str:
    usage = selectors.usage(user=user, days=days, today=today)
    readings = selectors.vault_daily(user=user, first_day=usage.first_day, last_day=usage.last_day)
    outlook = forecast.forecast(readings, today=today)
    context = {
        "days": days,
        "ranges": selectors.USAGE_RANGES,
        "usage": usage,
        "no_calls_title": f"No API calls in the last {days} days",
        "chart": charts.line_chart(usage) if usage.total_calls else None,
        "compact_chart": charts.line_chart(usage, charts.COMPACT) if usage.total_calls else None,
        "vault": selectors.vault_summary(user=user, since=usage.first_day),
        "daily_rows": _day_rows([(day.day, [*day.calls, day.total]) for day in usage.newest_first]),
        "vault_rows": _day_rows([(reading.day, [reading.token_count]) for reading in readings[::-1]]),
        "outlook": outlook,
        "vault_chart": _vault_chart(readings, outlook, usage, charts.VAULT_WIDE),
        "vault_compact_chart": _vault_chart(readings, outlook, usage, charts.VAULT_COMPACT),
        "recent_errors": selectors.recent_errors(user=user),
    }
    return render_to_string(USAGE_TEMPLATE, context)


def _render_account(user: User) -> tuple[tuple[str, str], int]:
    """The reminder and the account cards, and how long they may be served."""
    tokens = token_selectors.tokens_of(user=user)
    labels = token_selectors.type_names()  # as support names them
    context = {
        "user": user,
        "may": Abilities(user),  # rendered without a request, so without the context processor
        "factors": [(token, labels[token.kind]) for token in tokens],
        "open_change_requests": list(account_selectors.open_change_requests(user=user)),
    }
    show_reminder = user.fallback_phone_reminder and not account_services.has_fallback_phone(user)
    reminder = render_to_string(REMINDER_TEMPLATE) if show_reminder else ""
    now = timezone.now()
    seconds_left = [(t.expires_at - now).total_seconds() for t in tokens if t.expires_at and t.expires_at > now]
    # A token that expires while the fragment is cached must show EXPIRED at once: stop before it.
    timeout = math.floor(min([ACCOUNT_SECONDS, *seconds_left]))
    return (reminder, render_to_string(ACCOUNT_TEMPLATE, context)), timeout


def home_sections(*, user: User, days: int = selectors.USAGE_DAYS) -> HomeSections:
    """The home page's reminder, usage section (over ``days`` days) and account cards, from the
    cache when current."""
    if days not in selectors.USAGE_RANGES:  # the cache key holds it: only the ranges offered
        raise ValueError(f"not a dashboard range: {days}")
    today = selectors.utc_today()
    if user.organisation_id is None:
        (reminder, account), _ = _render_account(user)
        return HomeSections(SafeString(reminder), SafeString(_render_usage(user, today, days)), SafeString(account))
    organisation_id = user.organisation_id
    language = translation.get_language()
    parts = {
        "usage": fragments.Fragment(
            key=f"dashboard:usage:{organisation_id}:{today.isoformat()}:{days}:{language}",
            depends_on=(usage_version(organisation_id),),
        ),
        "account": fragments.Fragment(
            key=f"dashboard:account:{user.pk}:{language}",
            depends_on=(account_version(user.pk), organisation_version(organisation_id), TOKEN_TYPES_VERSION),
        ),
    }

    def render(name: str) -> tuple[Any, int]:
        if name == "usage":
            from_replica = lag_tolerant() == REPLICA
            return _render_usage(user, today, days), USAGE_SECONDS_FROM_REPLICA if from_replica else USAGE_SECONDS
        return _render_account(user)

    drawn = fragments.cached_many(parts, render)
    reminder, account = drawn["account"]
    return HomeSections(SafeString(reminder), SafeString(drawn["usage"]), SafeString(account))
