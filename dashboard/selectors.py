"""Reads of usage, vault counts and the error log, always scoped to the user's organisation.

Each page reads a fixed number of queries whatever the data size: the counters are already one
row per method and day, and the error log is read along its (organisation, ..., at) indexes.
All of them tolerate a moment's lag, so they read the replica when one is configured
(common/replica.py).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import Count, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import RowNumber, TruncDate, Upper
from django.http import Http404
from django.utils import timezone

from accounts.models import Organisation, User
from common.replica import lag_tolerant
from dashboard.models import BUCKET, DailyMethodCount, ErrorLog, FiveMinuteMethodCount, VaultStat, bucket_start

USAGE_DAYS = 30
USAGE_RANGES = (7, 30, 90)  # the dashboard's range selector, in days (30 is the default)
RECENT_ERRORS = 10
ERRORS_PER_PAGE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_today() -> date:
    return timezone.now().astimezone(UTC).date()


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- Usage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodTotal:
    method: str
    calls: int
    errors: int

    @property
    def error_rate(self) -> float:
        return 100 * self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class UsageDay:
    day: date
    calls: list[int]  # per method, in Usage.methods order
    total: int


@dataclass
class Usage:
    first_day: date
    last_day: date
    methods: list[str] = field(default_factory=list)
    days: list[UsageDay] = field(default_factory=list)
    totals: list[MethodTotal] = field(default_factory=list)

    @property
    def total_calls(self) -> int:
        return sum(t.calls for t in self.totals)

    @property
    def total_errors(self) -> int:
        return sum(t.errors for t in self.totals)

    @property
    def newest_first(self) -> list[UsageDay]:
        return self.days[::-1]


def usage_range(*, days: int, today: date | None = None) -> tuple[date, date]:
    """The first and last UTC day of the ``days`` days ending today (today so far included)."""
    last_day = today or utc_today()
    return last_day - timedelta(days=days - 1), last_day


def usage(*, user: User, days: int = USAGE_DAYS, today: date | None = None) -> Usage:
    """Calls per method and UTC day for the ``days`` days ending today (today so far included)."""
    first_day, last_day = usage_range(days=days, today=today)
    result = Usage(first_day=first_day, last_day=last_day)
    if user.organisation_id is None:
        return result
    rows = (
        DailyMethodCount.objects.using(lag_tolerant())
        .filter(organisation_id=user.organisation_id, day__gte=first_day, day__lte=last_day)
        .values_list("method", "day", "calls", "errors")
    )
    calls: dict[str, dict[date, int]] = defaultdict(dict)
    errors: dict[str, int] = defaultdict(int)
    for method, day, day_calls, day_errors in rows:
        calls[method][day] = day_calls
        errors[method] += day_errors
    totals = [MethodTotal(method=m, calls=sum(calls[m].values()), errors=errors[m]) for m in calls]
    totals.sort(key=lambda t: (-t.calls, t.method))
    result.totals = totals
    result.methods = [t.method for t in totals]
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        per_method = [calls[m].get(day, 0) for m in result.methods]
        result.days.append(UsageDay(day=day, calls=per_method, total=sum(per_method)))
    return result


def daily_counters(
    *, user: User, first_day: date, last_day: date
) -> QuerySet[DailyMethodCount, tuple[date, str, int, int]]:
    """(day, method, calls, failed) of each stored counter from first_day to last_day, by day then method."""
    if user.organisation_id is None:
        return DailyMethodCount.objects.none().values_list("day", "method", "calls", "errors")
    return (
        DailyMethodCount.objects.using(lag_tolerant())
        .filter(organisation_id=user.organisation_id, day__gte=first_day, day__lte=last_day)
        .order_by("day", "method")
        .values_list("day", "method", "calls", "errors")
    )


# --- Recent counts in 5-minute slots (what error alarms read) -----------------------------------


@dataclass(frozen=True)
class SlotCounts:
    calls: int
    errors: int
    start: datetime  # the first slot's start
    end: datetime  # the last slot's end


def slot_counts(*, organisation_id: int, method: str | None, since: datetime, until: datetime) -> SlotCounts:
    """Calls and failed calls of one method (or all, for None) in the 5-minute slots that overlap
    ``since``..``until``: one indexed query over at most a day of slots (what error alarms read),
    whatever the error log holds."""
    first, last = bucket_start(since), bucket_start(until)
    slots = FiveMinuteMethodCount.objects.filter(organisation_id=organisation_id, start__gte=first, start__lte=last)
    if method is not None:
        slots = slots.filter(method=method)
    totals = slots.aggregate(calls=Sum("calls"), errors=Sum("errors"))
    return SlotCounts(calls=totals["calls"] or 0, errors=totals["errors"] or 0, start=first, end=last + BUCKET)


# --- Vault -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultSummary:
    since: date
    token_count: int | None = None
    as_of: datetime | None = None
    change: int | None = None


def vault_summary(*, user: User, since: date) -> VaultSummary:
    """The newest token count, and how it changed since the start of ``since`` (one query)."""
    if user.organisation_id is None:
        return VaultSummary(since=since)
    stats = VaultStat.objects.filter(organisation_id=OuterRef("pk"))
    newest = stats.order_by("-at", "-id")
    period_start = start_of(since)
    row = (
        Organisation.objects.using(lag_tolerant())
        .filter(pk=user.organisation_id)
        .annotate(
            current=Subquery(newest.values("token_count")[:1]),
            current_at=Subquery(newest.values("at")[:1]),
            # The count when the period began, or else the first one reported during it.
            before=Subquery(newest.filter(at__lt=period_start).values("token_count")[:1]),
            first=Subquery(stats.filter(at__gte=period_start).order_by("at", "id").values("token_count")[:1]),
        )
        .values("current", "current_at", "before", "first")
        .first()
    )
    if row is None or row["current"] is None:
        return VaultSummary(since=since)
    baseline = row["before"] if row["before"] is not None else row["first"]
    return VaultSummary(
        since=since,
        token_count=row["current"],
        as_of=row["current_at"],
        change=None if baseline is None else row["current"] - baseline,
    )


@dataclass(frozen=True)
class VaultReading:
    day: date  # UTC
    token_count: int
    at: datetime  # when the day's last reading was taken


def vault_daily(*, user: User, first_day: date, last_day: date) -> list[VaultReading]:
    """The last vault count reported on each UTC day from first_day to last_day, oldest first.

    The platform may report many counts a day (one per report); the chart and the forecast take
    one point a day, the day's last. One query, ranking each day's readings with a window function
    (PostgreSQL and SQLite alike), read along the (organisation, -at) index for the range only.
    """
    if user.organisation_id is None:
        return []
    day = TruncDate("at", tzinfo=UTC)
    rows = (
        VaultStat.objects.using(lag_tolerant())
        .filter(
            organisation_id=user.organisation_id,
            at__gte=start_of(first_day),
            at__lt=start_of(last_day + timedelta(days=1)),
        )
        .annotate(
            day=day,
            rank=Window(RowNumber(), partition_by=[day], order_by=[F("at").desc(), F("id").desc()]),
        )
        .filter(rank=1)
        .order_by("day")
        .values_list("day", "token_count", "at")
    )
    return [VaultReading(day=d, token_count=count, at=at) for d, count, at in rows]


# --- Error log ---------------------------------------------------------------------------------


def organisation_errors(*, user: User) -> QuerySet[ErrorLog]:
    if user.organisation_id is None:
        return ErrorLog.objects.none()
    return ErrorLog.objects.using(lag_tolerant()).filter(organisation_id=user.organisation_id)


def access_error(*, user: User, error_id: int) -> ErrorLog:
    """An error-log row of the user's organisation, or 404 (whatever the row's real owner)."""
    error = organisation_errors(user=user).filter(pk=error_id).first()
    if error is None:
        raise Http404
    return error


def recent_errors(*, user: User, limit: int = RECENT_ERRORS) -> list[ErrorLog]:
    return list(organisation_errors(user=user).order_by("-at", "-id")[:limit])


def error_methods(*, user: User) -> list[str]:
    """Methods that failed within the retention period, from the small counters table."""
    if user.organisation_id is None:
        return []
    since = utc_today() - timedelta(days=settings.ERROR_LOG_RETENTION_DAYS)
    return list(
        DailyMethodCount.objects.using(lag_tolerant())
        .filter(organisation_id=user.organisation_id, day__gte=since, errors__gt=0)
        .values_list("method", flat=True)
        .distinct()
        .order_by("method")
    )


def known_methods(*, user: User) -> list[str]:
    """Methods the organisation called within the retention period, failed or not: filtering by one
    that never failed is a fair question with an empty answer, not a bad request."""
    if user.organisation_id is None:
        return []
    since = utc_today() - timedelta(days=settings.ERROR_LOG_RETENTION_DAYS)
    return list(
        DailyMethodCount.objects.using(lag_tolerant())
        .filter(organisation_id=user.organisation_id, day__gte=since)
        .values_list("method", flat=True)
        .distinct()
        .order_by("method")
    )


@dataclass(frozen=True)
class ErrorFilters:
    start: date | None = None
    end: date | None = None
    method: str = ""
    code: str = ""


def filtered_errors(*, user: User, filters: ErrorFilters) -> QuerySet[ErrorLog]:
    """The organisation's errors matching the filters, newest first. Dates are UTC days, inclusive."""
    errors = organisation_errors(user=user)
    if filters.start is not None:
        errors = errors.filter(at__gte=start_of(filters.start))
    if filters.end is not None and filters.end < date.max:
        errors = errors.filter(at__lt=start_of(filters.end + timedelta(days=1)))
    if filters.method:
        errors = errors.filter(method=filters.method)
    if filters.code:
        # Case-insensitive, as people type codes; the (organisation, UPPER(code), at) index serves it.
        errors = errors.alias(code_upper=Upper("code")).filter(code_upper=Upper(Value(filters.code)))
    return errors.order_by("-at", "-id")


@dataclass(frozen=True)
class SourceFailures:
    """Failed calls with one error code from one source address: how many, first and last, which methods."""

    source_ip: str
    calls: int
    first_at: datetime
    last_at: datetime
    methods: tuple[str, ...]


def failed_calls_by_source(*, user: User, code: str, since: datetime, limit: int) -> list[SourceFailures]:
    """The source addresses with the most failed calls carrying ``code`` since ``since``, most first.

    One query on PostgreSQL (the methods gathered by ARRAY_AGG(DISTINCT ...)), two on SQLite (the
    methods of the addresses found, grouped by address and method): never more as the log grows.
    Read along the (organisation, UPPER(code), at) index, as the error log's code filter is.
    """
    if user.organisation_id is None:
        return []
    database = lag_tolerant()
    rows = (
        ErrorLog.objects.using(database)
        .filter(organisation_id=user.organisation_id, at__gte=since)
        .alias(code_upper=Upper("code"))
        .filter(code_upper=Upper(Value(code)))
        .values("source_ip")
        .annotate(calls=Count("id"), first_at=Min("at"), last_at=Max("at"))
        .order_by("-calls", "-last_at", "source_ip")
    )
    if connections[database].vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg

        found = list(rows.annotate(methods=ArrayAgg("method", distinct=True, order_by="method"))[:limit])
    else:
        found = list(rows[:limit])
        methods: dict[str, list[str]] = defaultdict(list)
        if found:
            pairs = (
                ErrorLog.objects.using(database)
                .filter(organisation_id=user.organisation_id, at__gte=since)
                .alias(code_upper=Upper("code"))
                .filter(code_upper=Upper(Value(code)), source_ip__in=[row["source_ip"] for row in found])
                .values_list("source_ip", "method")
                .distinct()
                .order_by("source_ip", "method")
            )
            for source_ip, method in pairs:
                methods[source_ip].append(method)
        for row in found:
            row["methods"] = methods[row["source_ip"]]
    return [
        SourceFailures(
            source_ip=row["source_ip"],
            calls=row["calls"],
            first_at=row["first_at"],
            last_at=row["last_at"],
            methods=tuple(row["methods"]),
        )
        for row in found
    ]


@dataclass(frozen=True)
class Cursor:
    """A place in the newest-first error log: the (at, id) of a row. Keyset paging needs no COUNT."""

    at: datetime
    id: int

    def __str__(self) -> str:
        return f"{(self.at - EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def parse(cls, value: str) -> "Cursor":
        """The cursor written by ``str()``; ValueError for anything else."""
        if len(value) > 40:
            raise ValueError("too long")
        micros, _, row_id = value.partition(".")
        try:
            return cls(at=EPOCH + timedelta(microseconds=int(micros)), id=int(row_id))
        except OverflowError as exc:
            raise ValueError("out of range") from exc

    @classmethod
    def of(cls, row: ErrorLog) -> "Cursor":
        return cls(at=row.at, id=row.pk)


@dataclass(frozen=True)
class ErrorPage:
    rows: list[ErrorLog]
    newer: Cursor | None  # where the newer page starts, if there is one
    older: Cursor | None
    is_first: bool

    @property
    def newer_token(self) -> str | None:
        return str(self.newer) if self.newer else None

    @property
    def older_token(self) -> str | None:
        return str(self.older) if self.older else None


def error_page(
    errors: QuerySet[ErrorLog], *, older: Cursor | None = None, newer: Cursor | None = None, size: int = ERRORS_PER_PAGE
) -> ErrorPage:
    """One page of ``errors`` (newest first): the first, or the one older or newer than a cursor."""
    errors = errors.order_by("-at", "-id")
    if newer is not None:
        after = Q(at__gte=newer.at) & (Q(at__gt=newer.at) | Q(id__gt=newer.id))
        rows = list(errors.filter(after).order_by("at", "id")[: size + 1])
        if len(rows) > size:
            page = rows[:size][::-1]
            return ErrorPage(rows=page, newer=Cursor.of(page[0]), older=Cursor.of(page[-1]), is_first=False)
        # Fewer than a page is newer than the cursor: that is the first page.
    elif older is not None:
        before = Q(at__lte=older.at) & (Q(at__lt=older.at) | Q(id__lt=older.id))
        rows = list(errors.filter(before)[: size + 1])
        page = rows[:size]
        return ErrorPage(
            rows=page,
            newer=Cursor.of(page[0]) if page else None,
            older=Cursor.of(page[-1]) if len(rows) > size else None,
            is_first=False,
        )
    rows = list(errors[: size + 1])
    page = rows[:size]
    return ErrorPage(rows=page, newer=None, older=Cursor.of(page[-1]) if len(rows) > size else None, is_first=True)
