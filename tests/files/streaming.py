"""Requests whose multipart body is made up as the server reads it, as a slow, large upload arrives.

They go through Django's real WSGI handling with CSRF enforced, as a browser's would, so a test can
watch how much of the body was read, and how much memory the request took, before it was refused.
"""

import io
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.test.client import ClientHandler

from accounts.models import User
from tests.conftest import log_in
from tests.files.helpers import MULTIPART, closing, field_part, part_header


class GeneratedBody(io.RawIOBase):
    """The parts in order: bytes as they are, an int as that many bytes of text made up as read."""

    def __init__(self, *parts: bytes | int) -> None:
        self.parts = parts
        self.length = sum(p if isinstance(p, int) else len(p) for p in parts)
        self.position = 0

    def readable(self) -> bool:
        return True

    def _piece(self, start: int, end: int) -> tuple[bytes | None, int]:
        """The literal bytes at ``start`` (None inside generated text) and where that part ends."""
        offset = 0
        for part in self.parts:
            size = part if isinstance(part, int) else len(part)
            if start < offset + size:
                if isinstance(part, int):
                    return None, offset + size
                return part[start - offset : min(end, offset + size) - offset], offset + size
            offset += size
        return b"", self.length

    def readline(self, size: int | None = -1) -> bytes:
        # As a server's input does: up to the next newline or ``size``. The generated text has
        # no newlines, so reading it by lines holds it all at once.
        rest = self.length - self.position
        limit = rest if size is None or size < 0 else min(size, rest)
        literal, _ = self._piece(self.position, self.position + limit)
        if literal:
            newline = literal.find(b"\n")
            if newline != -1:
                limit = newline + 1
        return self.read(limit)

    def read(self, n: int | None = -1) -> bytes:
        end = self.length if n is None or n < 0 else min(self.length, self.position + n)
        out = bytearray()
        while self.position < end:
            literal, part_end = self._piece(self.position, end)
            piece = b"a" * (min(end, part_end) - self.position) if literal is None else literal
            out += piece
            self.position += len(piece)
        return bytes(out)


@dataclass
class StreamedResponse:
    status: int
    page: str
    body: GeneratedBody
    peak_memory: int  # bytes allocated at most while the request ran

    @property
    def read_to_the_end(self) -> bool:
        return self.body.position == self.body.length


def browser_session(user: User, page: str) -> tuple[str, str]:
    """The cookie header and CSRF token a browser holds after opening ``page``."""
    client = log_in(Client(), user)
    assert client.get(page).status_code == 200
    cookies = "; ".join(f"{morsel.key}={morsel.value}" for morsel in client.cookies.values())
    return cookies, client.cookies[settings.CSRF_COOKIE_NAME].value


def post_streamed(
    user: User,
    *,
    page: str,
    path: str,
    fields: dict[str, str] | None = None,
    files: Sequence[tuple[str, str, int | bytes]] = (),
) -> StreamedResponse:
    """POST ``fields`` (the CSRF token first, as a browser sends the form) then ``files``: each
    (field, filename, content), an int content being that many bytes generated while read."""
    cookies, token = browser_session(user, page)
    parts: list[bytes | int] = [field_part("csrfmiddlewaretoken", token)]
    parts += [field_part(name, value) for name, value in (fields or {}).items()]
    for n, (field, filename, content) in enumerate(files):
        parts += [(b"\r\n" if n else b"") + part_header(field, filename), content]
    parts.append(closing() if files else closing().removeprefix(b"\r\n"))
    body = GeneratedBody(*parts)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_COOKIE": cookies,
        "CONTENT_TYPE": MULTIPART,
        "CONTENT_LENGTH": str(body.length),
        "wsgi.input": body,
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    tracemalloc.start()
    try:
        response: HttpResponse = ClientHandler(enforce_csrf_checks=True)(environ)  # type: ignore[assignment]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return StreamedResponse(response.status_code, response.content.decode(), body, peak)
