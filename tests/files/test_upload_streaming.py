"""The size limit holds while the body streams in: an oversized upload is never kept, in memory or on disk.

These requests go through Django's real WSGI handling (as the test client does, with CSRF enforced)
but with a body generated as it is read, the way a server hands over a slow, large upload.
"""

import io
import tracemalloc

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.test.client import ClientHandler

from accounts.models import User
from audit.models import AuditEvent
from files.models import StoredFile
from tests.conftest import log_in
from tests.files.helpers import MB, MULTIPART, closing, field_part, part_header, stored_objects


class GeneratedBody(io.RawIOBase):
    """``head``, then ``size`` bytes of text made up as they are read, then ``tail``."""

    def __init__(self, head: bytes, size: int, tail: bytes) -> None:
        self.head, self.size, self.tail = head, size, tail
        self.length = len(head) + size + len(tail)
        self.position = 0

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:
        # As a server's input does: up to the next newline or ``size``. The generated text has
        # no newlines, so reading it by lines holds it all at once.
        rest = self.length - self.position
        limit = rest if size is None or size < 0 else min(size, rest)
        if self.position < len(self.head):
            newline = self.head.find(b"\n", self.position, self.position + limit)
            if newline != -1:
                limit = newline + 1 - self.position
        return self.read(limit)

    def read(self, n: int | None = -1) -> bytes:
        end = self.length if n is None or n < 0 else min(self.length, self.position + n)
        out = bytearray()
        while self.position < end:
            body_start, body_end = len(self.head), len(self.head) + self.size
            if self.position < body_start:
                piece = self.head[self.position : min(end, body_start)]
            elif self.position < body_end:
                piece = b"a" * (min(end, body_end) - self.position)
            else:
                piece = self.tail[self.position - body_end : end - body_end]
            out += piece
            self.position += len(piece)
        return bytes(out)


def _browser_session(user: User) -> tuple[str, str]:
    """The cookie header and CSRF token a browser holds after opening the Other files tab."""
    client = log_in(Client(), user)
    assert client.get("/files/?section=other").status_code == 200
    cookies = "; ".join(f"{morsel.key}={morsel.value}" for morsel in client.cookies.values())
    return cookies, client.cookies[settings.CSRF_COOKIE_NAME].value


def _post_streamed(user: User, filename: str, size: int) -> tuple[int, str, GeneratedBody]:
    cookies, token = _browser_session(user)
    # As a browser sends the form: the CSRF field first, then the file.
    body = GeneratedBody(field_part("csrfmiddlewaretoken", token) + part_header("file", filename), size, closing())
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/files/other/upload/",
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
    response: HttpResponse = ClientHandler(enforce_csrf_checks=True)(environ)  # type: ignore[assignment]
    return response.status_code, response.content.decode(), body


@pytest.fixture
def private_root(tmp_path):
    return tmp_path / "private-files"


def test_oversized_upload_is_stopped_while_it_streams_and_nothing_is_kept(member, settings, private_root):
    settings.FILES_MAX_UPLOAD_BYTES = MB
    # Django would keep a file this size in memory without the portal's handler in front.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * MB

    tracemalloc.start()
    try:
        status, page, body = _post_streamed(member, "huge log.txt", 48 * MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert status == 400
    assert "“huge log.txt” is too big: files may be at most 1 MB." in page
    assert peak < 8 * MB  # the 48 MB body was read and dropped, never held
    assert body.position == body.length  # read to its end, so the browser gets the page, not a reset
    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []
    assert not AuditEvent.objects.filter(action="file.uploaded").exists()


def test_streamed_upload_within_the_limit_is_kept(member, settings, private_root):
    settings.FILES_MAX_UPLOAD_BYTES = MB

    status, _, _ = _post_streamed(member, "notes.txt", MB)

    assert status == 302
    stored = StoredFile.objects.get()
    assert (stored.name, stored.size, stored.content_type) == ("notes.txt", MB, "text/plain")
    assert stored_objects(private_root)[0].read_bytes() == b"a" * MB


def test_streamed_upload_without_the_csrf_token_is_refused(member, private_root):
    cookies, _ = _browser_session(member)
    body = GeneratedBody(part_header("file", "notes.txt"), 1000, closing())
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/files/other/upload/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_COOKIE": cookies,
        "CONTENT_TYPE": MULTIPART,
        "CONTENT_LENGTH": str(body.length),
        "wsgi.input": body,
        "wsgi.url_scheme": "http",
    }

    response = ClientHandler(enforce_csrf_checks=True)(environ)

    assert response.status_code == 403
    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []
