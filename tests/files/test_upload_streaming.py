"""The size limit holds while the body streams in: an oversized upload is never kept, in memory or on disk.

These requests go through Django's real WSGI handling (as the test client does, with CSRF enforced)
but with a body generated as it is read, the way a server hands over a slow, large upload.
"""

import pytest
from django.test.client import ClientHandler

from audit.models import AuditEvent
from files.models import StoredFile
from tests.files.helpers import MB, MULTIPART, closing, part_header, stored_objects
from tests.files.streaming import GeneratedBody, StreamedResponse, browser_session, post_streamed


def _post_streamed(user, filename: str, size: int) -> StreamedResponse:
    return post_streamed(
        user, page="/files/?section=other", path="/files/other/upload/", files=[("file", filename, size)]
    )


@pytest.fixture
def private_root(tmp_path):
    return tmp_path / "private-files"


def test_oversized_upload_is_stopped_while_it_streams_and_nothing_is_kept(member, settings, private_root):
    settings.FILES_MAX_UPLOAD_BYTES = MB
    # Django would keep a file this size in memory without the portal's handler in front.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * MB

    response = _post_streamed(member, "huge log.txt", 48 * MB)

    assert response.status == 400
    assert "“huge log.txt” is too big: files may be at most 1 MB." in response.page
    assert response.peak_memory < 8 * MB  # the 48 MB body was read and dropped, never held
    assert response.read_to_the_end  # so the browser gets the page, not a reset
    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []
    assert not AuditEvent.objects.filter(action="file.uploaded").exists()


def test_streamed_upload_within_the_limit_is_kept(member, settings, private_root):
    settings.FILES_MAX_UPLOAD_BYTES = MB

    assert _post_streamed(member, "notes.txt", MB).status == 302

    stored = StoredFile.objects.get()
    assert (stored.name, stored.size, stored.content_type) == ("notes.txt", MB, "text/plain")
    assert stored_objects(private_root)[0].read_bytes() == b"a" * MB


def test_streamed_upload_without_the_csrf_token_is_refused(member, private_root):
    cookies, _ = browser_session(member, "/files/?section=other")
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


@pytest.mark.parametrize(
    ("who", "page", "path"),
    [
        ("member", "/profile/", "/profile/"),  # a form without files
        ("member", "/whitelist/", "/whitelist/add/"),
        ("support", "/admin/support/ticket/add/", "/admin/support/ticket/add/"),  # the support admin
    ],
)
def test_every_view_drops_an_oversized_file_while_it_streams(who, page, path, member, support, settings):
    """The limit is not a view's choice: a file sent to any page is held to it before the view runs."""
    settings.FILES_MAX_UPLOAD_BYTES = MB
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * MB

    user = {"member": member, "support": support}[who]
    response = post_streamed(user, page=page, path=path, files=[("junk", "junk.txt", 48 * MB)])

    assert response.status < 500
    assert response.peak_memory < 8 * MB
    assert response.read_to_the_end
