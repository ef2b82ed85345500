"""files.services.store_file and delete_file: how the portal's own files (token extracts) are kept."""

import gzip
import hashlib
import io
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File

from audit.models import AuditEvent
from files import services
from files.models import StoredFile
from tests.files.helpers import stored_objects


@pytest.fixture
def private_root(tmp_path):
    return tmp_path / "private-files"


def _extract_bytes() -> bytes:
    return gzip.compress(b"token_id,serial\n1,ABC123\n2,DEF456\n", mtime=0)


def _keep(organisation, owner, content, name="tokens 2026-11-26.csv.gz") -> StoredFile:
    data = _extract_bytes()
    return services.store_file(
        organisation=organisation,
        section="extracts",
        name=name,
        content=content,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/gzip",
        uploaded_by=owner,
    )


@pytest.mark.parametrize("wrap", [io.BytesIO, lambda data: File(io.BytesIO(data))], ids=["file-like", "django-file"])
def test_store_file_keeps_a_file_under_a_random_name(organisation, owner, private_root, wrap):
    stored = _keep(organisation, owner, wrap(_extract_bytes()))

    assert (stored.section, stored.name, stored.uploaded_by) == ("extracts", "tokens 2026-11-26.csv.gz", owner)
    [on_disk] = stored_objects(private_root)
    assert re.fullmatch(r"[0-9a-f]{32}\.gz", on_disk.name)
    assert gzip.decompress(on_disk.read_bytes()).startswith(b"token_id,serial\n")
    assert not AuditEvent.objects.exists()  # the caller records what happened in its own terms


def test_stored_extract_is_listed_and_downloadable_for_admins(organisation, owner, owner_client):
    stored = _keep(organisation, owner, io.BytesIO(_extract_bytes()))

    page = owner_client.get("/files/?section=extracts").content.decode()
    response = owner_client.get(f"/files/{stored.pk}/download/")

    assert f'<a href="/files/{stored.pk}/">tokens 2026-11-26.csv.gz</a>' in page
    assert b"".join(response.streaming_content) == _extract_bytes()
    assert response["Content-Disposition"] == 'attachment; filename="tokens 2026-11-26.csv.gz"'


def test_store_file_cleans_the_name(organisation, owner):
    stored = _keep(organisation, owner, io.BytesIO(_extract_bytes()), name="../../tmp/\x00tokens.csv.gz")

    assert stored.name == "tokens.csv.gz"


def test_store_file_refuses_an_unknown_section_and_stores_nothing(organisation, owner, private_root):
    with pytest.raises(ValidationError, match="Unknown File Manager section"):
        services.store_file(
            organisation=organisation,
            section="public",
            name="x.csv.gz",
            content=io.BytesIO(b"x"),
            size=1,
            sha256="0" * 64,
            content_type="application/gzip",
            uploaded_by=owner,
        )

    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []


def test_portal_deletes_an_extract_without_a_person(organisation, owner, private_root):
    stored = _keep(organisation, owner, io.BytesIO(_extract_bytes()))

    services.delete_file(stored=stored, acting_user=None)

    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []
    event = AuditEvent.objects.get(action="file.deleted")
    assert (event.actor_label, event.organisation) == ("system", organisation)


def test_member_cannot_delete_an_extract_even_one_made_for_them(organisation, member, private_root):
    stored = _keep(organisation, member, io.BytesIO(_extract_bytes()))

    with pytest.raises(PermissionDenied):
        services.delete_file(stored=stored, acting_user=member)

    assert StoredFile.objects.exists()
    assert len(stored_objects(private_root)) == 1
