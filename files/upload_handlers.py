"""The File Manager's size limit, applied while the request body streams in.

Django's own handlers keep small files in memory and write larger ones to a temporary file, and
the view only sees the file once all of it has arrived. This handler sits in front of them and
stops the upload as soon as a file passes FILES_MAX_UPLOAD_BYTES, so an oversized body is read
and thrown away chunk by chunk instead of being kept anywhere.
"""

from typing import IO

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from files.uploads import clean_name


def too_big_message(name: str, limit: int) -> str:
    shown = clean_name(f"{name or 'file'}.x", "x")[:-2]  # cleaned, with its own extension
    return f"“{shown}” is too big: files may be at most {limit / 1_048_576:.0f} MB."


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts the bytes of the request's files and stops the upload when they pass the limit.

    The File Manager takes one file per upload, so the count is not reset between files: extra
    files in a crafted request cannot pile up on disk either.

    ``refusal`` then holds the message for the user; the file never reaches ``request.FILES``.
    """

    def __init__(self, request: HttpRequest | None = None, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = settings.FILES_MAX_UPLOAD_BYTES if limit is None else limit
        self.received = 0
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

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.refusal = too_big_message(self.file_name or "", self.limit)
            self._drain()
            # connection_reset=False: the body has been read to its end, so the browser gets the
            # page that says why instead of a reset connection.
            raise StopUpload(connection_reset=False)
        return raw_data  # passed on to Django's memory or temporary-file handler

    def _drain(self) -> None:
        # Read the rest of the body in fixed-size chunks and drop it. Django would drain it too,
        # but line by line: a body without newlines would come back as one line of any size.
        if self.input is not None:
            while self.input.read(self.chunk_size):
                pass

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the uploaded file
