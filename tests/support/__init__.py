"""Helpers shared by the ticket tests: real files, and a private folder of the test's own."""

import io
from pathlib import Path

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from support.models import Attachment

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (0, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_file(name: str = "contract.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def use_private_folder(settings, monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """Point the "private" storage at ``root`` for one test.

    Overriding STORAGES is not enough on its own: a FileField calls its storage callable once,
    when the model class is created, so the attachment field keeps the storage of import time.
    """
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    monkeypatch.setattr(Attachment._meta.get_field("file"), "storage", storages["private"])
    return root


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())
