"""The portal's upload rules (SPEC §6): size, type from the content, safe names, SHA-256.

Used by the File Manager and by ticket attachments alike.
"""

import codecs
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

# Detected kind -> (extension, content type).
KINDS: dict[str, tuple[str, str]] = {
    "pdf": ("pdf", "application/pdf"),
    "png": ("png", "image/png"),
    "jpeg": ("jpg", "image/jpeg"),
    "docx": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "csv": ("csv", "text/csv"),
    "txt": ("txt", "text/plain"),
}
FILETYPE_KINDS = {"pdf": "pdf", "png": "png", "jpg": "jpeg", "docx": "docx", "xlsx": "xlsx"}
TEXT_KINDS = {"csv", "txt"}
MAX_NAME_LENGTH = 120
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class CheckedUpload:
    name: str
    size: int
    sha256: str
    kind: str
    content_type: str


def _detect_kind(head: bytes, original_name: str) -> str | None:
    guess = filetype.guess(head)
    if guess is not None and guess.extension in FILETYPE_KINDS:
        return FILETYPE_KINDS[guess.extension]
    # Text has no signature, and some signatures are two printable letters ("BM" for a bitmap,
    # "MZ" for an executable): text starting like that is still text. Binaries fail the checks
    # below, here on the sample and in check_upload on the whole file.
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return None
    return "csv" if original_name.lower().endswith(".csv") else "txt"


def clean_name(original: str, extension: str) -> str:
    """A display name without paths or control characters, bounded, ending in the real extension."""
    name = os.path.basename(original.replace("\\", "/"))
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = stem[: MAX_NAME_LENGTH - len(extension) - 1].strip(" .") or "file"
    return f"{stem}.{extension}"


def check_upload(upload: UploadedFile, *, allowed: set[str] | None = None) -> CheckedUpload:
    """Accept the upload or raise ValidationError saying why; hashes it while streaming."""
    allowed = allowed if allowed is not None else set(settings.FILES_ALLOWED_TYPES)
    limit = settings.FILES_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            f"“{clean_name(upload.name or 'file', 'x')[:-2]}” is {upload.size / 1_048_576:.1f} MB; "
            f"files may be at most {limit / 1_048_576:.0f} MB."
        )
    if not upload.size:
        raise ValidationError("The file is empty.")
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    kind = _detect_kind(head, upload.name or "")
    names = ", ".join(KINDS[k][0].upper() for k in sorted(allowed))
    refused = ValidationError(f"This type of file is not accepted (judged from its content). Accepted: {names}.")
    if kind is None or kind not in allowed:
        raise refused
    digest = hashlib.sha256()
    # Text is UTF-8 without NUL bytes to its end, not only in the sample the kind was judged on.
    text = codecs.getincrementaldecoder("utf-8")() if kind in TEXT_KINDS else None
    upload.seek(0)
    size = 0
    try:
        for chunk in upload.chunks():
            digest.update(chunk)
            size += len(chunk)
            if text is not None:
                if b"\x00" in chunk:
                    raise refused
                text.decode(chunk)
        if text is not None:
            text.decode(b"", final=True)
    except UnicodeDecodeError:
        raise refused from None
    upload.seek(0)
    extension, content_type = KINDS[kind]
    return CheckedUpload(
        name=clean_name(upload.name or "file", extension),
        size=size,
        sha256=digest.hexdigest(),
        kind=kind,
        content_type=content_type,
    )
