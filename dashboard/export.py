"""The error log as CSV, streamed row by row so memory stays flat however long it is."""

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
