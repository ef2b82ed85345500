"""The upload limits, applied while the request body streams in, on every request.

Django's own handlers keep small files in memory and write larger ones to a temporary file, and
a view only sees the files once all of the body has arrived. This handler sits in front of them
(first in ``FILE_UPLOAD_HANDLERS``, so for every view, the admin included, and before the CSRF
check reads the body) and stops the upload as soon as a request passes one of its limits:

- ``FILES_MAX_UPLOAD_BYTES`` for one file;
- ``FILES_MAX_REQUEST_BYTES`` for all the files of the request together;
- ``FILES_MAX_PER_REQUEST`` files.

The rest of the body is then read and thrown away chunk by chunk instead of being kept anywhere.
A view that takes files asks ``upload_refusal(request)`` and shows the message; the files that
arrived before the limit was passed are still in ``request.FILES`` and must not be kept.
"""

from typing import IO, Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from files.uploads import clean_name

MB = 1_048_576


def too_big_message(name: str, limit: int) -> str:
    shown = clean_name(f"{name or 'file'}.x", "x")[:-2]  # cleaned, with its own extension
    return f"“{shown}” is too big: files may be at most {limit / MB:.0f} MB."


def too_big_together_message(limit: int) -> str:
    return f"The files are too big together: at most {limit / MB:.0f} MB can be sent at once."


def too_many_message(limit: int) -> str:
    return f"Attach at most {limit} file{'s' if limit != 1 else ''} at a time."


def limits_help_text() -> str:
    """What a file field's help says about the limits, from the settings."""
    each, total = settings.FILES_MAX_UPLOAD_BYTES, settings.FILES_MAX_REQUEST_BYTES
    count = settings.FILES_MAX_PER_REQUEST
    per_file = f", {each / MB:.0f} MB each" if each < total else ""
    return f"At most {count} file{'s' if count != 1 else ''}{per_file}, {total / MB:.0f} MB in all."


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts a request's files and their bytes, and stops the upload at the first limit passed.

    ``refusal`` then holds the message for the user; the file being received never reaches
    ``request.FILES``, and nothing after it is parsed.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.file_limit: int = settings.FILES_MAX_UPLOAD_BYTES
        self.total_limit: int = settings.FILES_MAX_REQUEST_BYTES
        self.max_files: int = settings.FILES_MAX_PER_REQUEST
        self.files = 0
        self.received = 0  # bytes of every file so far
        self.file_received = 0  # bytes of the current file
        self.refusal: str | None = None
        self.input: IO[bytes] | None = None

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        self.input = input_data

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.files += 1
        self.file_received = 0
        if self.files > self.max_files:
            self._refuse(too_many_message(self.max_files))

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        self.file_received += len(raw_data)
        if self.file_received > self.file_limit:
            self._refuse(too_big_message(self.file_name or "", self.file_limit))
        if self.received > self.total_limit:
            self._refuse(too_big_together_message(self.total_limit))
        return raw_data  # passed on to Django's memory or temporary-file handler

    def _refuse(self, message: str) -> None:
        self.refusal = message
        self._drain()
        # connection_reset=False: the body has been read to its end, so the browser gets the
        # page that says why instead of a reset connection.
        raise StopUpload(connection_reset=False)

    def _drain(self) -> None:
        # Read the rest of the body in fixed-size chunks and drop it. Django would drain it too,
        # but line by line: a body without newlines would come back as one line of any size.
        if self.input is not None:
            while self.input.read(self.chunk_size):
                pass

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the uploaded file


def upload_refusal(request: HttpRequest) -> str | None:
    """Why the request's files were refused while they streamed in, or None if they were not.

    Reads the body first (if nothing has yet), so the limits have been applied to all of it.
    """
    if request.method != "POST":
        return None
    request.POST  # noqa: B018 -- parses the body through the upload handlers
    for handler in request.upload_handlers:
        if isinstance(handler, SizeLimitUploadHandler):
            return handler.refusal
    raise RuntimeError("files.upload_handlers.SizeLimitUploadHandler is missing from FILE_UPLOAD_HANDLERS")
