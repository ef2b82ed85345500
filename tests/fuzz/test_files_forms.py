"""UploadForm at /files/<section>/upload/ (any user of the organisation), and the File Manager's
list under any query string."""

import hashlib
import unicodedata

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import event, given
from hypothesis import strategies as st

from audit.models import AuditEvent
from files.models import StoredFile
from tests.files.helpers import MULTIPART, closing, field_part, part_header
from tests.fuzz.checks import assert_filter_page, assert_refused, counts, stored_objects
from tests.fuzz.strategies import (
    ACCEPTED_CONTENT,
    FUZZ,
    accepted_file,
    any_char,
    file_contents,
    file_names,
    raw_query_strings,
    submissions,
)

SECTIONS = ["compliance", "other"]


def _uploads(files: list) -> dict[str, object]:
    return {"file": files[0] if len(files) == 1 else files}


accepted_uploads = st.lists(
    st.builds(accepted_file, file_names, st.sampled_from(ACCEPTED_CONTENT)), min_size=1, max_size=1
).map(_uploads)


def sent_contents(value: object) -> list[bytes]:
    files = value if isinstance(value, list) else [value]
    contents = []
    for file in files:
        if isinstance(file, SimpleUploadedFile):
            file.seek(0)
            contents.append(file.read())
    return contents


def assert_sensible_name(name: str) -> None:
    """What the File Manager shows and offers for download: no path, no control character, short."""
    assert "/" not in name and "\\" not in name
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name), name
    assert 0 < len(name) <= 120


@FUZZ
@given(submission=submissions(accepted_uploads), section=st.sampled_from(SECTIONS))
def test_upload_stores_the_file_and_its_row_together_or_neither(member, member_client, submission, section):
    before, objects = counts(StoredFile, AuditEvent), len(stored_objects())

    response = submission.post(member_client, f"/files/{section}/upload/")

    uploaded = response.status_code == 302
    event("uploaded" if uploaded else "refused")
    if uploaded:
        assert response.url == f"/files/?section={section}"
        assert counts(StoredFile, AuditEvent) == {key: count + 1 for key, count in before.items()}
        assert len(stored_objects()) == objects + 1
        stored = StoredFile.objects.latest("id")
        assert (stored.section, stored.uploaded_by) == (section, member)
        assert_sensible_name(stored.name)
        with stored.file.open("rb") as handle:
            kept = handle.read()
        assert (len(kept), hashlib.sha256(kept).hexdigest()) == (stored.size, stored.sha256)
        assert kept in sent_contents(submission.data.get("file"))
    else:
        assert not submission.pristine, "an accepted kind of file was refused"
        assert_refused(response)
        assert counts(StoredFile, AuditEvent) == before
        assert len(stored_objects()) == objects


# A file name as a script may send it: quotes, line breaks, NUL, backslashes and all.
raw_names = st.text(any_char, max_size=60)


@FUZZ
@given(
    name=raw_names,
    content=file_contents,
    extra=st.lists(st.tuples(st.sampled_from(["file", "section", "x"]), st.text(any_char, max_size=20)), max_size=2),
)
def test_hand_made_multipart_body_never_leaves_half_a_file(member_client, name, content, extra):
    body = b"".join(field_part(key, value) for key, value in extra) + part_header("file", name) + content + closing()
    before, objects = counts(StoredFile), len(stored_objects())

    response = member_client.post("/files/other/upload/", data=body, content_type=MULTIPART)

    assert response.status_code in (302, 400)  # stored, or refused (the form again, or a broken body)
    if response.status_code == 302:
        assert counts(StoredFile) == {"files.StoredFile": before["files.StoredFile"] + 1}
        assert len(stored_objects()) == objects + 1
        assert_sensible_name(StoredFile.objects.latest("id").name)
    else:
        assert counts(StoredFile) == before
        assert len(stored_objects()) == objects


@FUZZ
@given(query=raw_query_strings())
@pytest.mark.parametrize("url", ["/files/"])
def test_file_list_answers_any_query_string(member_client, url, query):
    assert_filter_page(member_client.get(f"{url}?{query}"), bad_filter_status=200)
