"""Files on S3 (django-storages), against a real S3 API served on this machine by moto's server mode.

The portal talks to it over HTTP exactly as it would to AWS: uploads put objects in the bucket,
downloads redirect to a signed link valid one minute, deletes remove the object.
"""

import hashlib
import re
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from moto.server import ThreadedMotoServer

from audit.models import AuditEvent
from files import services
from files.models import StoredFile
from tests.conftest import log_in
from tests.factories import UserFactory
from tests.files.helpers import EXE, PDF, pdf_file, stored_objects

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch) -> str:
    """A fresh bucket, and the private storage pointed at it as production would be."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "portal-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "portal-test-secret")
    name = f"portal-files-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    settings.AWS_STORAGE_BUCKET_NAME = name
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_endpoint,
                "region_name": REGION,
                "signature_version": "s3v4",
                "addressing_style": "path",
                "querystring_auth": True,
                "querystring_expire": 60,
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    return name


@pytest.fixture
def s3(s3_endpoint, bucket):
    """A boto3 client to look in the bucket, as an operator would."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)


def keys(s3, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_upload_puts_the_object_in_the_bucket(member_client, bucket, s3, tmp_path):
    response = member_client.post("/files/compliance/upload/", {"file": pdf_file("passport.pdf")})

    assert response.status_code == 302
    stored = StoredFile.objects.get()
    [key] = keys(s3, bucket)
    assert key == stored.file.name
    assert re.fullmatch(r"files/\d{4}/\d{2}/[0-9a-f]{32}\.pdf", key)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PDF
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    assert stored_objects(tmp_path) == []  # nothing kept on the local disk


def test_download_redirects_to_a_signed_link_valid_one_minute(member_client, member, bucket, s3_endpoint):
    member_client.post("/files/compliance/upload/", {"file": pdf_file("Contract (signed).pdf")})
    stored = StoredFile.objects.get()

    response = member_client.get(f"/files/{stored.pk}/download/")

    assert response.status_code == 302
    link = response["Location"]
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == s3_endpoint
    assert parts.path == f"/{bucket}/{stored.file.name}"
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-Signature"][0]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 30
    with urllib.request.urlopen(link, timeout=10) as answer:  # what the browser does next
        assert answer.read() == PDF
        assert answer.headers["Content-Disposition"] == 'attachment; filename="Contract (signed).pdf"'
        assert answer.headers["Content-Type"] == "application/pdf"
    event = AuditEvent.objects.get(action="file.downloaded")
    assert (event.actor, event.target_label) == (member, "Contract (signed).pdf (Compliance)")


def test_another_organisation_gets_404_and_no_link(member_client, outsider, bucket):
    member_client.post("/files/other/upload/", {"file": pdf_file()})
    stored = StoredFile.objects.get()

    response = log_in(Client(), outsider).get(f"/files/{stored.pk}/download/")

    assert response.status_code == 404
    assert "Location" not in response


def test_delete_removes_the_object_from_the_bucket(member_client, bucket, s3):
    member_client.post("/files/other/upload/", {"file": pdf_file("old.pdf")})
    member_client.post("/files/other/upload/", {"file": pdf_file("keep.pdf")})
    old = StoredFile.objects.get(name="old.pdf")
    keep = StoredFile.objects.get(name="keep.pdf")

    response = member_client.post(f"/files/{old.pk}/delete/")

    assert response.status_code == 302
    assert keys(s3, bucket) == [keep.file.name]
    assert list(StoredFile.objects.all()) == [keep]


def test_refused_upload_leaves_the_bucket_empty(member_client, bucket, s3):
    response = member_client.post("/files/compliance/upload/", {"file": SimpleUploadedFile("invoice.pdf", EXE)})

    assert response.status_code == 400
    assert keys(s3, bucket) == []
    assert not StoredFile.objects.exists()


def test_a_failing_row_takes_its_object_out_of_the_bucket(member, bucket, s3):
    with pytest.raises(ValueError, match="unsaved related object"):
        services.store_file(
            organisation=type(member.organisation)(name="Not saved Ltd"),
            section="other",
            name="contract.pdf",
            content=pdf_file(),
            size=len(PDF),
            sha256=hashlib.sha256(PDF).hexdigest(),
            content_type="application/pdf",
            uploaded_by=member,
        )

    assert keys(s3, bucket) == []


def test_support_download_from_the_admin_redirects_to_a_signed_link(member_client, bucket):
    member_client.post("/files/compliance/upload/", {"file": pdf_file("passport.pdf")})
    stored = StoredFile.objects.get()
    support = log_in(Client(), UserFactory.create(organisation=None, is_staff=True, is_superuser=True))

    response = support.get(f"/admin/files/storedfile/{stored.pk}/download/")

    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["X-Amz-Expires"] == ["60"]
    with urllib.request.urlopen(response["Location"], timeout=10) as answer:
        assert answer.read() == PDF
