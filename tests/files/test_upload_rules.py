"""The portal's upload rules (SPEC §6): type from the content, size limit, safe names, SHA-256."""

import hashlib
import io
import unicodedata
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from files.uploads import KINDS, check_upload, clean_name

REFUSED = "This type of file is not accepted (judged from its content)."


# --- Real, minimal files of each kind ------------------------------------------------------------


def pdf_bytes() -> bytes:
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def office_bytes(part: str) -> bytes:
    """A zip laid out as Office writes it: content types first, then the package parts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr(part, '<?xml version="1.0"?><root/>')
    return buffer.getvalue()


def plain_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "hello")
    return buffer.getvalue()


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"PE\x00\x00" + b"\x00" * 200
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def refusal(name: str, content: bytes) -> str:
    with pytest.raises(ValidationError) as exc:
        check_upload(upload(name, content))
    return " ".join(exc.value.messages)


# --- Accepted kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "kind", "stored_name", "content_type"),
    [
        ("contract.pdf", pdf_bytes(), "pdf", "contract.pdf", "application/pdf"),
        ("logo.png", image_bytes("PNG"), "png", "logo.png", "image/png"),
        ("photo.jpeg", image_bytes("JPEG"), "jpeg", "photo.jpg", "image/jpeg"),
        (
            "letter.docx",
            office_bytes("word/document.xml"),
            "docx",
            "letter.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "figures.xlsx",
            office_bytes("xl/workbook.xml"),
            "xlsx",
            "figures.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("users.csv", b"email,name\nann@example.com,Ann\n", "csv", "users.csv", "text/csv"),
        ("notes.txt", "Grüße aus Köln — ok ✓\n".encode(), "txt", "notes.txt", "text/plain"),
    ],
    ids=["pdf", "png", "jpeg", "docx", "xlsx", "csv", "txt"],
)
def test_each_accepted_kind_is_recognised_from_its_content(name, content, kind, stored_name, content_type):
    checked = check_upload(upload(name, content))

    assert checked.kind == kind
    assert checked.name == stored_name
    assert checked.content_type == content_type
    assert checked.size == len(content)


def test_png_named_pdf_is_accepted_as_a_png_with_a_png_name():
    checked = check_upload(upload("scan.pdf", image_bytes("PNG")))

    assert (checked.kind, checked.name, checked.content_type) == ("png", "scan.png", "image/png")


def test_pdf_named_txt_is_accepted_as_a_pdf_with_a_pdf_name():
    checked = check_upload(upload("notes.txt", pdf_bytes()))

    assert (checked.kind, checked.name, checked.content_type) == ("pdf", "notes.pdf", "application/pdf")


def test_text_without_a_csv_name_is_plain_text():
    checked = check_upload(upload("export.dat", b"a,b\n1,2\n"))

    assert (checked.kind, checked.name) == ("txt", "export.txt")


@pytest.mark.parametrize(
    "content",
    [b"BMW,320d\nAudi,A4\n", b"MZ-4411,spare part\n", b"ID3 tags,count\n"],
    ids=["starts-like-a-bitmap", "starts-like-an-exe", "starts-like-an-mp3"],
)
def test_text_that_starts_like_a_binary_signature_is_still_text(content):
    checked = check_upload(upload("parts.csv", content))

    assert checked.kind == "csv"


def test_multibyte_character_across_the_sniffed_sample_is_still_text():
    content = b"a" * 8191 + "é and more text".encode()  # the sample ends inside "é"

    assert check_upload(upload("long.txt", content)).kind == "txt"


# --- Refused content ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("setup.exe", EXE),
        ("invoice.pdf", EXE),
        ("tool", ELF),
        ("report.docx", plain_zip_bytes()),
        ("animation.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
        ("notes.txt", b"hello\x00world\n"),
        ("latin1.csv", "name\nJosé Müller\n".encode("latin-1")),
        ("ends-latin1.txt", "café".encode("latin-1")),
    ],
    ids=["exe", "exe-named-pdf", "elf", "zip-not-office", "gif", "text-with-nul", "latin-1", "latin-1-at-the-end"],
)
def test_content_of_a_kind_not_accepted_is_refused(name, content):
    message = refusal(name, content)

    assert REFUSED in message
    assert "Accepted: CSV, DOCX, JPG, PDF, PNG, TXT, XLSX." in message


@pytest.mark.parametrize(
    "content",
    [b"a" * 10_000 + b"\x00\x01\x02", b"x" * 10_000 + b"\xff\xfe bad bytes later on\n" + b"y" * 100],
    ids=["nul-after-the-sample", "invalid-utf8-after-the-sample"],
)
def test_text_is_checked_to_the_end_not_only_its_first_bytes(content):
    assert REFUSED in refusal("notes.txt", content)


def test_only_the_configured_kinds_are_accepted(settings):
    settings.FILES_ALLOWED_TYPES = ["pdf"]

    assert check_upload(upload("a.pdf", pdf_bytes())).kind == "pdf"
    message = refusal("logo.png", image_bytes("PNG"))
    assert REFUSED in message
    assert "Accepted: PDF." in message
    assert REFUSED in refusal("notes.txt", b"plain text\n")


def test_file_over_the_size_limit_is_refused_with_name_and_limit(settings):
    settings.FILES_MAX_UPLOAD_BYTES = 2 * 1_048_576

    message = refusal("../big scan.pdf", b"%PDF-1.4\n" + b"0" * (3 * 1_048_576))

    assert message == "“big scan” is 3.0 MB; files may be at most 2 MB."


def test_file_exactly_at_the_size_limit_is_accepted(settings):
    settings.FILES_MAX_UPLOAD_BYTES = 1024

    assert check_upload(upload("a.txt", b"a" * 1024)).size == 1024
    assert "files may be at most" in refusal("a.txt", b"a" * 1025)


def test_empty_file_is_refused():
    assert refusal("empty.pdf", b"") == "The file is empty."


# --- SHA-256 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [pdf_bytes(), image_bytes("PNG"), ("line of text ✓\n" * 40_000).encode()],
    ids=["pdf", "png", "text-of-several-chunks"],
)
def test_sha256_and_size_match_the_whole_content(content):
    file = upload("file.txt", content)

    checked = check_upload(file)

    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert checked.size == len(content)
    assert file.read() == content  # rewound, ready to be stored


# --- Names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "extension", "expected"),
    [
        ("../../etc/passwd", "txt", "passwd.txt"),
        ("C:\\x\\y.pdf", "pdf", "y.pdf"),
        ("/var/www/../uploads/report.pdf", "pdf", "report.pdf"),
        ("re\x00po\x1brt\x7f.pdf", "pdf", "report.pdf"),
        ("invoice\u202egpj.exe", "pdf", "invoicegpj.pdf"),  # right-to-left override removed
        ("two   spaces .pdf", "pdf", "two spaces.pdf"),
        ("Rechnung Ma\u0308rz.pdf", "pdf", "Rechnung M\u00e4rz.pdf"),  # NFC
        ("請求書 2024.pdf", "pdf", "請求書 2024.pdf"),
        ("archive.tar.gz", "pdf", "archive.tar.pdf"),
        ("photo.jpeg", "jpg", "photo.jpg"),
        ("README", "txt", "README.txt"),
        (".bashrc", "txt", "bashrc.txt"),
        ("", "pdf", "file.pdf"),
        (" ... ", "pdf", "file.pdf"),
        ("\x01\x02\t", "png", "file.png"),
    ],
)
def test_names_are_sanitised(original, extension, expected):
    assert clean_name(original, extension) == expected


def test_very_long_name_is_cut_to_120_characters_keeping_the_real_extension():
    name = clean_name("a" * 300 + ".exe", "pdf")

    assert len(name) == 120
    assert name == "a" * 116 + ".pdf"


def test_uploaded_name_is_sanitised_and_bounded():
    checked = check_upload(upload("Jahresabschluss " + "ü" * 300 + ".pdf", pdf_bytes()))

    assert len(checked.name) <= 120
    assert checked.name.startswith("Jahresabschluss üü")
    assert checked.name.endswith(".pdf")


@given(original=st.text(max_size=400), extension=st.sampled_from(sorted({ext for ext, _ in KINDS.values()})))
def test_clean_name_never_returns_paths_control_characters_or_long_names(original, extension):
    name = clean_name(original, extension)

    assert "/" not in name
    assert "\\" not in name
    assert not any(unicodedata.category(ch).startswith("C") for ch in name)
    assert len(name) <= 120
    assert name.endswith("." + extension)
    assert name not in {"", ".", ".."}
    assert name[: -len(extension) - 1].strip(" .")  # a real name before the extension
