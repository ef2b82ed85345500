"""Building usage events the way the platform sends them, and counting what got stored."""

import re
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any

from dashboard.models import DailyMethodCount, ErrorLog, IngestedBatch, VaultStat


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def utc_today() -> date:
    return datetime.now(UTC).date()


def days_ago(days: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(utc_today() - timedelta(days=days), time(hour, minute), tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def ok_event(org: str, method: str = "Tokenize", at: datetime | None = None) -> dict[str, Any]:
    return {"org": org, "method": method, "at": iso(at or hours_ago(1)), "status": "ok"}


def error_event(
    org: str,
    method: str = "Detokenize",
    at: datetime | None = None,
    code: str = "TOKEN_NOT_FOUND",
    message: str = "No such token.",
    request_id: str = "req_1",
    source_ip: str = "203.0.113.9",
) -> dict[str, Any]:
    return {
        "org": org,
        "method": method,
        "at": iso(at or hours_ago(1)),
        "status": "error",
        "error": {"code": code, "message": message, "request_id": request_id, "source_ip": source_ip},
    }


def batch(*events: dict[str, Any], batch_id: str = "batch-1") -> dict[str, Any]:
    return {"batch_id": batch_id, "events": list(events)}


def stored_rows() -> dict[str, int]:
    return {
        "counters": DailyMethodCount.objects.count(),
        "errors": ErrorLog.objects.count(),
        "batches": IngestedBatch.objects.count(),
        "vault": VaultStat.objects.count(),
    }


NOTHING_STORED = {"counters": 0, "errors": 0, "batches": 0, "vault": 0}


def counters(org_id: int) -> dict[tuple[str, str], tuple[int, int]]:
    """(method, ISO day) -> (calls, errors) of an organisation."""
    rows = DailyMethodCount.objects.filter(organisation_id=org_id).values_list("method", "day", "calls", "errors")
    return {(method, day.isoformat()): (calls, errors) for method, day, calls, errors in rows}


class _TableParser(HTMLParser):
    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0  # > 0 while inside the wanted table
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The text of each row (header row included) of the table with this id; [] if there is none."""
    parser = _TableParser(table_id)
    parser.feed(html)
    return parser.rows


def text_of(html: str, element_id: str) -> str:
    """The whitespace-normalised text inside the element with this id."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no element with id {element_id}"
    return " ".join(match.group(1).split())
