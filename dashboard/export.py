"""The error log and the daily usage counters as CSV, streamed row by row so memory stays flat."""

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

from django.http import StreamingHttpResponse

from common.csv_export import csv_response

HEADER = ["time_utc", "method", "code", "message", "request_id", "source_ip"]


def error_log_response(
    rows: Iterable[tuple[datetime, str, str, str, str, str]], *, today: date
) -> StreamingHttpResponse:
    def lines() -> Iterator[list[object]]:
        for at, *cells in rows:
            yield [at.astimezone(UTC).isoformat(), *cells]

    return csv_response(filename=f"error-log-{today:%Y-%m-%d}.csv", header=HEADER, rows=lines())


USAGE_HEADER = ["day_utc", "method", "calls", "failed"]


def usage_counters_response(
    rows: Iterable[tuple[date, str, int, int]], *, first_day: date, last_day: date
) -> StreamingHttpResponse:
    def lines() -> Iterator[list[object]]:
        for day, *cells in rows:
            yield [day.isoformat(), *cells]

    filename = f"usage-{first_day:%Y-%m-%d}-to-{last_day:%Y-%m-%d}.csv"
    return csv_response(filename=filename, header=USAGE_HEADER, rows=lines())
