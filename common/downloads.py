"""Customer files leave the portal as attachments only, never rendered in the browser."""

from typing import IO

from django.http import FileResponse


def attachment_response(content: IO[bytes], *, filename: str, content_type: str) -> FileResponse:
    response = FileResponse(content, as_attachment=True, filename=filename, content_type=content_type)
    # Also set for every response by SECURE_CONTENT_TYPE_NOSNIFF; kept here so a download never depends on it.
    response["X-Content-Type-Options"] = "nosniff"
    return response
