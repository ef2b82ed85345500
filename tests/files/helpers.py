"""Real files, hand-made multipart bodies and a look at the private folder, for the File Manager tests."""

import io
from pathlib import Path

from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import User
from files import services
from files.models import StoredFile

PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"PE\x00\x00" + b"\x00" * 200
BOUNDARY = "----PortalTestBoundary7MA4YWxkTrZu0gW"
MB = 1_048_576


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (0, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_file(name: str = "passport.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def pdf_of_size(size: int) -> bytes:
    """A PDF padded with a comment to exactly ``size`` bytes."""
    head = PDF[:-6]  # without "%%EOF\n"
    return head + b"%" + b"x" * (size - len(head) - 8) + b"\n%%EOF\n"


def part_header(field: str, filename: str, content_type: str = "application/octet-stream") -> bytes:
    """The head of one multipart file part, the filename exactly as a client could send it."""
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


def field_part(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def closing() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart_file(filename: str, content: bytes) -> bytes:
    """A body with one file under "file", sent as is (Django's test client strips paths itself)."""
    return part_header("file", filename) + content + closing()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def stored_objects(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def upload(user: User, section: str = "other", name: str = "contract.pdf", content: bytes = PDF) -> StoredFile:
    return services.upload_file(acting_user=user, section=section, upload=pdf_file(name, content))


def grant_manage_files(user: User) -> User:
    """What an admin does on the user page: grant "Manage files"."""
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="manage_files"))
    return User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached per instance
