"""What a browser, a script or an attacker can put in a portal form, as hypothesis strategies.

A submission starts from data that a careful user would type (a per-form strategy), and is
either sent as it is ("pristine": the form must accept it) or mutated: fields dropped, replaced by
odd text, huge numbers or 100,000-character strings, sent several times, or replaced by a file;
unknown fields added. It goes out as multipart (what the portal's forms use) or URL-encoded.
"""

import html
import io
import os
import urllib.parse
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from PIL import Image

from tests.files.helpers import EXE, PDF

# A test makes one or more requests per example through the real stack: few examples, no deadline.
# FUZZ_EXAMPLES=500 (for example) digs deeper, for a nightly run or after changing a form.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(FUZZ, max_examples=max(1, EXAMPLES * 2 // 3))  # tests that set up a new user per example

# --- Text -----------------------------------------------------------------------------------------

# Any code point but lone surrogates (UTF-8 cannot carry them, so no request holds one): NUL and
# other control characters, right-to-left marks, emoji, combining marks, unassigned code points.
any_char = st.characters(exclude_categories=["Cs"])
any_text = st.text(any_char, max_size=40)

ODD_STRINGS = (
    "",
    " ",
    "\t\n",
    "\r\n",
    "\x00",
    "abc\x00def",
    "\x7f",
    "\x1b[31m",
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u202egpj.exe",
    "\u200b",  # zero-width space
    "\ufeff",
    "\u2028",
    "😀",
    "👩\u200d👩\u200d👧\u200d👦",
    "🇬🇧",
    "e\u0301",
    "İ",
    "ß",
    "ﬃ",
    "\U0010ffff",
    "١٢٣٤٥٦",  # Arabic-Indic digits: str.isdigit() says yes
    "²³⁴⁵⁶⁷",  # superscripts: isdigit() says yes, int() says no
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits
    "\u07c0",  # NKo digit zero
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "%00",
    "%s%n",
    "{{ 7|add:7 }}",
    "../../etc/passwd",
    "None",
    "null",
    "[]",
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(
        [
            "0",
            "-1",
            "-0",
            "1e309",
            "NaN",
            "inf",
            "0x10",
            "1_000",
            "32768",
            "2147483648",
            "9223372036854775808",
            "-9223372036854775809",
            "9" * 400,
        ]
    ),
)
# About 100,000 characters each.
LONG_STRINGS = (
    "x" * 100_000,
    "😀" * 100_000,
    "\u202e" * 100_000,
    "9" * 100_000,
    "\x00" * 100_000,
    "a b " * 25_000,
)
scalars = st.one_of(any_text, st.sampled_from(ODD_STRINGS), NUMBERS, st.sampled_from(LONG_STRINGS))

# Values that look like what a kind of field expects and are not quite (a form passes one of these
# as ``tricky``, so mutations hit its checks' edges more often than random text would).
CODE_LIKE = st.sampled_from(
    [
        "²³⁴⁵⁶⁷",
        "¹²³⁴⁵⁶⁷⁸",
        "١٢٣٤٥٦",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "12 34 56",
        "123-456",
        "123456\x00",
        "000000",
        "99999999",
        "1234567890123456",
        "12345678901234567",
        "-12345",
        "+123456",
        "1e5",
        "ABCD-1234",
        "abcd1234",
        "ⅰⅱⅲ",
    ]
)
DATE_LIKE = st.sampled_from(
    [
        "0001-01-01",
        "9999-12-31",
        "2024-02-29",
        "2023-02-29",
        "2025-13-01",
        "2025-00-10",
        "10000-01-01",
        "-0001-01-01",
        "2025-1-1",
        "01/02/2025",
        "2025-03-03T10:00",
        "9999-12-31T23:59",
        "9999-12-31T23:59-23:59",
        "0001-01-01T00:00+23:59",
        "2030-01-01T00:00Z",
        "2030-01-01 00:00:00.000000",
        "2030-06-15T25:61",
        "today",
        "\u0662\u0660\u0663\u0660-\u0660\u0661-\u0660\u0661",  # 2030-01-01 in Arabic-Indic digits
    ]
)
PHONE_LIKE = st.sampled_from(
    [
        "+44 7400 123456",
        "07400 123456",
        "+1 800 555 0100",  # toll-free
        "+44 20 7946 0000",
        "+44 871 123 4567",  # shared cost
        "+44 70 1234 5678",  # personal number
        "+44 56 1234 5678",  # VoIP
        "+882 1234 5678",
        "+999 1234",
        "tel:+44-7400-123456",
        "+44 7400 123456 ext. 99",
        "+\uff14\uff14 \uff17\uff14\uff10\uff10 123456",
        "+44\u200f7400123456",
        "+" + "9" * 31,
    ]
)
EMAIL_LIKE = st.sampled_from(
    [
        "a@b",
        "a@b.c",
        "@example.com",
        "a@@example.com",
        "a@例え.jp",
        "ünï@example.com",
        "a@xn--e1afmkfd.xn--p1ai",
        "a@" + "a" * 63 + ".com",
        "a@" + "a" * 64 + ".com",
        "x" * 64 + "@example.com",
        "x" * 250 + "@example.com",
        "a@example.com\x00",
        "A@EXAMPLE.COM",
        "a@[127.0.0.1]",
        '"quoted"@example.com',
        "a+b@example.com",
        "owner@acme.example",
    ]
)
# One value, or the same key several times (QueryDict.get reads the last, getlist all of them).
field_values = st.one_of(scalars, st.lists(scalars, min_size=2, max_size=3))

# Field names the portal's views branch on, or that a mass-assignment attack would try.
KNOWN_KEYS = (
    "csrfmiddlewaretoken",
    "next",
    "id",
    "pk",
    "user",
    "user_id",
    "organisation",
    "is_staff",
    "is_superuser",
    "role",
    "send",
    "resend",
    "code",
    "token",
    "number",
    "email",
    "description",
    "confirm_broad",
    "save_numbers",
    "page",
    "older",
    "newer",
    "section",
    "status",
)
# The test client writes field names into multipart headers as they are: no quote or line break,
# which would cut the body into other parts (raw bodies are fuzzed separately).
extra_keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters='"\r\n\\'), min_size=1, max_size=12),
)

# --- Files ----------------------------------------------------------------------------------------

GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
ZIP = b"PK\x03\x04" + b"\x00" * 60


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (0, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = png_bytes()
ACCEPTED_CONTENT = (PDF, PNG, "Grüße ✓ عربى 😀\n".encode(), b"email,name\nann@example.com,Ann\n")
REFUSED_CONTENT = (b"", EXE, GIF, ZIP, b"hello\x00world", "café".encode("latin-1"))
file_contents = st.one_of(
    st.sampled_from(ACCEPTED_CONTENT), st.sampled_from(REFUSED_CONTENT), st.binary(min_size=1, max_size=64)
)


def _kept_by_django(name: str) -> bool:
    """Whether Django lets a file of this name through: its test client refuses "." and "..", and its
    multipart parser drops a file whose name is nothing once entities are decoded and non-printable
    characters removed (the form then asks for a file, as if none had been chosen)."""
    printable = "".join(ch for ch in html.unescape(name).rsplit("/")[-1].rsplit("\\")[-1] if ch.isprintable())
    return name.strip() not in {".", ".."} and printable not in {"", ".", ".."}


# As for keys: the test client puts the name in a header unescaped. It keeps only the base name.
name_chars = st.characters(exclude_categories=["Cs"], exclude_characters='"\r\n\\/')
file_names = st.one_of(
    st.text(name_chars, min_size=1, max_size=40),
    st.sampled_from(
        [
            "contract.pdf",
            "scan.PDF",
            "\u202egpj.exe",
            "invoice\u200f.pdf",
            "請求書 2024.pdf",
            "😀.png",
            ".bashrc",
            "a\x00b.pdf",
            "CON",
            "x" * 1000 + ".pdf",
            "ü" * 300 + ".txt",
        ]
    ),
).filter(_kept_by_django)


content_types = st.sampled_from(["application/pdf", "image/png", "text/plain", "application/octet-stream", "x/😀"])


@st.composite
def upload_files(draw: st.DrawFn) -> SimpleUploadedFile:
    return SimpleUploadedFile(draw(file_names), draw(file_contents), content_type=draw(content_types))


def accepted_file(name: str = "contract.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


# --- Submissions ----------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _has_files(data: dict[str, Any]) -> bool:
    return any(isinstance(v, SimpleUploadedFile) for value in data.values() for v in _as_list(value))


def _shown(data: dict[str, Any]) -> str:
    """The data for a failure report, with 100,000-character values cut short."""

    def short(value: Any) -> Any:
        if isinstance(value, list):
            return [short(v) for v in value]
        if isinstance(value, str) and len(value) > 60:
            return f"{value[:20]!r}... ({len(value)} characters)"
        if isinstance(value, SimpleUploadedFile):
            return f"<file {(value.name or '')[:60]!r}, {value.size} bytes>"
        return value

    return repr({key: short(value) for key, value in data.items()})


@dataclass
class Submission:
    data: dict[str, Any]
    pristine: bool  # exactly what a careful user would send: the form must accept it
    urlencoded: bool = False

    def post(self, client: Client, url: str, **extra: Any) -> Any:
        # A browser always sends the form's CSRF token: a POST is never empty. (The test client does
        # not check it; a fuzzed value or a missing field here stands for a replayed token.)
        data = {"csrfmiddlewaretoken": "t" * 64, **self.data}
        note(f"POST {url} {'urlencoded' if self.urlencoded else 'multipart'} {_shown(data)}")
        if self.urlencoded and not _has_files(data):
            body = urllib.parse.urlencode([(k, v) for k, value in data.items() for v in _as_list(value)])
            return client.post(url, body, content_type="application/x-www-form-urlencoded", **extra)
        return client.post(url, data, **extra)

    def get(self, client: Client, url: str) -> Any:
        note(f"GET {url} {_shown(self.data)}")
        return client.get(url, self.data)

    def filled(self, **values: str) -> "Submission":
        """The submission with ``{name}`` placeholders replaced, for values known only in the example
        (the code an authenticator shows now, the id of a token made for it)."""

        def fill(value: Any) -> Any:
            if isinstance(value, list):
                return [fill(v) for v in value]
            if isinstance(value, str):
                for name, text in values.items():
                    value = value.replace("{" + name + "}", text)
            return value

        return Submission({k: fill(v) for k, v in self.data.items()}, self.pristine, self.urlencoded)


@st.composite
def submissions(
    draw: st.DrawFn,
    valid: SearchStrategy[dict[str, Any]] | dict[str, Any],
    *,
    tricky: SearchStrategy[str] | None = None,
    files: bool = True,
) -> Submission:
    """``valid`` as sent by a careful user, or mutated: fields dropped, replaced (often by one of the
    ``tricky`` values of this kind of field), repeated, turned into files (when ``files``), and
    unknown fields added."""
    data = dict(draw(valid) if isinstance(valid, SearchStrategy) else valid)
    urlencoded = draw(st.booleans())
    if draw(st.integers(min_value=0, max_value=4)) < 2:  # two examples in five
        return Submission(data, pristine=True, urlencoded=urlencoded)
    replacements = field_values if tricky is None else st.one_of(field_values, tricky, tricky)
    keys = sorted(data)
    # Replacing is the likeliest change: it is where odd text meets the form's checks.
    changes = ["replaced", "replaced", "replaced", "missing", "several"] + (["file"] if files else [])
    mutated = sorted(draw(st.sets(st.sampled_from(keys), min_size=1, max_size=len(keys)))) if keys else []
    for key in mutated:
        change = draw(st.sampled_from(changes))
        if change == "missing":
            del data[key]
        elif change == "replaced":
            data[key] = draw(replacements)
        elif change == "several":
            data[key] = draw(st.permutations([*_as_list(data[key]), draw(replacements)]))
        else:
            data[key] = draw(upload_files())
    for key, value in draw(st.dictionaries(extra_keys, field_values, max_size=2)).items():
        data.setdefault(key, value)
    # Not pristine even when only unknown fields were added: some (send, resend, code) steer a view.
    return Submission(data, pristine=False, urlencoded=urlencoded)


@st.composite
def raw_query_strings(draw: st.DrawFn) -> str:
    """A query string as any client may send it: bad percent-escapes, invalid UTF-8, NUL, ``&&==``."""
    raw = draw(st.binary(max_size=60))
    return urllib.parse.quote_from_bytes(raw, safe="=&%+;")


# --- Values a careful user types -----------------------------------------------------------------

# Any day a date field can hold, 1 January of year 1 to 31 December 9999, with the ends often.
iso_dates = st.one_of(st.sampled_from([date.min, date.max, date(1970, 1, 1)]), st.dates()).map(date.isoformat)

# Printable text without NUL or line breaks, possibly right-to-left or emoji: what may be stored.
printable_char = st.characters(exclude_categories=("Cs", "Cc", "Co", "Cn", "Zl", "Zp"))
printable_text = st.text(printable_char, min_size=1, max_size=40).filter(lambda s: s.strip())
