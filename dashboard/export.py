"""The error log as CSV, streamed row by row so memory stays flat however long it is."""

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

HEADER = ["time_utc", "method", "code", "message", "request_id", "source_ip"]
# A spreadsheet runs a cell that starts like a formula (OWASP "CSV injection"): quote it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_WRITE = 500


class _Echo:
    def write(self, value: str) -> str:
        return value


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def error_log_csv(rows: Iterable[tuple[datetime, str, str, str, str, str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER)
    lines: list[str] = []
    for at, *cells in rows:
        lines.append(writer.writerow([at.astimezone(UTC).isoformat(), *(safe_cell(str(c)) for c in cells)]))
        if len(lines) >= ROWS_PER_WRITE:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
