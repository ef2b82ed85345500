"""Token extracts encrypted to the organisation's own age key (issue #17): the stored object is
ciphertext only, and the matching secret key turns it back into the same rows as a plain extract."""

import gzip
import hashlib
import io
import re
import shutil
import subprocess
import threading

import pyrage
import pytest
from pyrage import x25519

from extracts import encryption, services
from extracts.models import ExtractKey, Status
from files.models import AGE_SUFFIX
from tests.extracts.conftest import BOTH_DATABASES, give_tokens, private_files, read_extract

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


@pytest.fixture
def identity() -> x25519.Identity:
    return x25519.Identity.generate()


def set_key(owner, identity) -> ExtractKey:
    return services.set_extract_key(acting_user=owner, recipient=str(identity.to_public()))


def run(owner, capture):
    with capture(execute=True):
        extract = services.request_extract(acting_user=owner)
    extract.refresh_from_db()
    return extract


def stored_bytes(stored) -> bytes:
    with stored.file.open("rb") as handle:
        return handle.read()


def rows_of(gzip_bytes: bytes) -> list[str]:
    return gzip.decompress(gzip_bytes).decode().splitlines()


def test_stored_extract_is_ciphertext_that_decrypts_to_the_rows_of_a_plain_extract(
    owner, identity, vault_table, django_capture_on_commit_callbacks
):
    give_tokens(owner.organisation, 3000)
    plain = run(owner, django_capture_on_commit_callbacks)
    _, plain_rows = read_extract(plain.file)
    set_key(owner, identity)

    encrypted = run(owner, django_capture_on_commit_callbacks)

    assert encrypted.status == Status.DONE, encrypted.failure_reason
    stored = encrypted.file
    data = stored_bytes(stored)
    assert data.startswith(b"age-encryption.org/v1\n-> X25519 ")
    assert not data.startswith(b"\x1f\x8b")  # not gzip
    assert b"token,created_at" not in data and b"tok_" not in data
    with pytest.raises((OSError, EOFError)):
        gzip.decompress(data)
    assert re.fullmatch(r"token-extract-acme-payments-ltd-\d{8}-\d{4}\.csv\.gz\.age", stored.name)
    assert stored.content_type == "application/octet-stream"
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert encrypted.encrypted_to == str(identity.to_public())
    decrypted = pyrage.decrypt(data, [identity])
    assert [line.split(",") for line in rows_of(decrypted)] == plain_rows
    assert encrypted.rows_written == 3000


def test_another_key_cannot_decrypt_it(owner, identity, vault_table, django_capture_on_commit_callbacks):
    give_tokens(owner.organisation, 10)
    set_key(owner, identity)

    data = stored_bytes(run(owner, django_capture_on_commit_callbacks).file)

    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(data, [x25519.Identity.generate()])


def test_only_the_organisations_own_key_is_used(
    owner, outsider, identity, vault_table, django_capture_on_commit_callbacks
):
    give_tokens(owner.organisation, 5)
    give_tokens(outsider.organisation, 5)
    set_key(owner, identity)

    theirs = run(outsider, django_capture_on_commit_callbacks)

    assert theirs.encrypted_to == ""
    assert theirs.file.name.endswith(".csv.gz")
    assert stored_bytes(theirs.file).startswith(b"\x1f\x8b")


def test_a_larger_extract_crosses_many_age_chunks_and_the_pipe_limit(
    owner, identity, vault_table, django_capture_on_commit_callbacks, settings
):
    settings.EXTRACT_CHUNK_ROWS = 500
    tokens = give_tokens(owner.organisation, 40_000)  # ~1.3 MB of CSV, several 64 KiB chunks compressed
    set_key(owner, identity)

    extract = run(owner, django_capture_on_commit_callbacks)

    lines = rows_of(pyrage.decrypt(stored_bytes(extract.file), [identity]))
    assert [line.split(",")[0] for line in lines[1:]] == tokens


@pytest.mark.skipif(shutil.which("age") is None, reason="the age command-line tool is not installed here")
def test_the_age_command_line_tool_decrypts_it(
    owner, identity, vault_table, django_capture_on_commit_callbacks, tmp_path
):
    give_tokens(owner.organisation, 100)
    set_key(owner, identity)
    stored = run(owner, django_capture_on_commit_callbacks).file
    (tmp_path / "your-key.txt").write_text(str(identity) + "\n")
    (tmp_path / stored.name).write_bytes(stored_bytes(stored))

    subprocess.run(
        ["age", "-d", "-i", "your-key.txt", "-o", stored.decrypted_name, stored.name],
        cwd=tmp_path,
        check=True,
    )

    assert len(rows_of((tmp_path / stored.decrypted_name).read_bytes())) == 101


def test_a_failure_on_the_encrypting_side_fails_the_extract_and_keeps_nothing(
    owner, identity, vault_table, django_capture_on_commit_callbacks, monkeypatch
):
    give_tokens(owner.organisation, 50)
    set_key(owner, identity)

    def broken(reader, writer, recipients):
        reader.read(10)
        raise pyrage.EncryptError("disk on fire")

    monkeypatch.setattr(encryption.pyrage, "encrypt_io", broken)
    extract = run(owner, django_capture_on_commit_callbacks)

    assert extract.status == Status.FAILED
    assert "EncryptError" in extract.failure_reason
    assert extract.file is None
    assert private_files() == []


def test_a_write_failure_under_the_encryption_is_not_lost(identity):
    """pyrage drops the error of its last flush; encrypting() re-raises what the target raised."""

    class Full(io.BytesIO):
        def write(self, data):
            if self.tell() > 100:
                raise OSError(28, "No space left on device")
            return super().write(data)

    with (
        pytest.raises(OSError, match="No space left"),
        encryption.encrypting(Full(), recipient=str(identity.to_public())) as plain,
    ):
        plain.write(b"x" * 300_000)


def test_empty_writes_do_not_end_the_stream(identity):
    """gzip writes empty blocks now and then: the encryption must not take one for the end."""
    target = io.BytesIO()
    with encryption.encrypting(target, recipient=str(identity.to_public())) as plain:
        plain.write(b"first ")
        plain.write(b"")
        plain.write(b"second")
    assert pyrage.decrypt(target.getvalue(), [identity]) == b"first second"


def test_encrypting_streams_with_bounded_memory(identity):
    """The writer never gets more than PIPE_BYTES ahead of the encryption."""
    target = io.BytesIO()
    seen = []
    with encryption.encrypting(target, recipient=str(identity.to_public())) as plain:
        for _ in range(40):
            plain.write(b"y" * 100_000)
            seen.append(plain._size)
    assert max(seen) <= encryption.PIPE_BYTES + 100_000
    assert pyrage.decrypt(target.getvalue(), [identity]) == b"y" * 4_000_000
    assert not [t for t in threading.enumerate() if t.name == "extract-age"]


def test_the_file_manager_knows_an_encrypted_extract_by_the_same_suffix():
    assert encryption.SUFFIX == AGE_SUFFIX == ".age"
