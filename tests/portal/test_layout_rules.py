"""Layout rules that need no browser: the icon at /favicon.ico, and one date format on every page
(tests/e2e/test_layout.py looks at the pages themselves)."""

import re
import struct
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings
from django.template import Context, Template
from django.utils.formats import date_format

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# Besides the portal's formats, the parts a page may add beside them: the ISO 8601 instant for
# machines (<time datetime>), the time zone's name, a weekday.
DATE_FILTER_ARGUMENTS = {"DATE_FORMAT", "DATETIME_FORMAT", "TIME_FORMAT", "c", "T", "D"}
# Addresses may carry dates as the forms read them (the error log's date filters): not shown.
LINK = re.compile(r'\bhref="[^"]*"')


def test_favicon_ico_is_an_icon_served_to_anyone(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    icon = b"".join(response.streaming_content)
    reserved, kind, count = struct.unpack("<HHH", icon[:6])
    assert (reserved, kind) == (0, 1)  # an ICO file
    sizes = {icon[6 + 16 * n] or 256 for n in range(count)}
    assert {16, 32} <= sizes


def test_dates_and_times_have_one_format():
    at = datetime(2026, 12, 3, 9, 5, 7, tzinfo=UTC)

    assert date_format(date(2026, 12, 3)) == "3 Dec 2026"
    assert date_format(at, "DATETIME_FORMAT") == "3 Dec 2026, 09:05"
    rendered = Template('{{ day|date }} · {{ at|date:"DATETIME_FORMAT" }}').render(
        Context({"day": date(2026, 1, 9), "at": at})
    )
    assert rendered == "9 Jan 2026 · 3 Dec 2026, 09:05"


def test_pages_write_dates_in_the_portals_formats_only():
    """Emails (templates/**/email/) keep their own wording ("3 Dec 2026 at 12:41 UTC")."""
    own_formats = {}
    for path in sorted(TEMPLATES.rglob("*.html")):
        parts = path.relative_to(TEMPLATES).parts
        if "email" in parts or parts[0] == "admin":
            continue
        shown = LINK.sub("", path.read_text())
        for argument in re.findall(r"""\|\s*date\s*:\s*["']([^"']*)["']""", shown):
            if argument not in DATE_FILTER_ARGUMENTS:
                own_formats.setdefault(str(path.relative_to(TEMPLATES)), []).append(argument)

    assert not own_formats, f"use |date or |date:'DATETIME_FORMAT' (portal/formats/en_GB/formats.py): {own_formats}"
