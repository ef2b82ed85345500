"""Support reads what the platform reported in the admin, and cannot change it."""

import pytest

from dashboard.models import DailyMethodCount, ErrorLog, IngestedBatch, VaultStat
from tests.dashboard.helpers import error_event, hours_ago


@pytest.fixture
def reported(report, organisation):
    report(error_event(organisation.public_id, code="VAULT_UNAVAILABLE", request_id="req-support-7"))
    report.vault(organisation, hours_ago(1), 4321)


@pytest.mark.parametrize(
    ("model", "shows"),
    [
        (DailyMethodCount, "Detokenize"),
        (ErrorLog, "VAULT_UNAVAILABLE"),
        (IngestedBatch, "Platform reporter"),
        (VaultStat, "4321"),
    ],
)
def test_support_sees_the_reported_rows_read_only(support_client, reported, model, shows):
    url = f"/admin/dashboard/{model._meta.model_name}/"
    row = model.objects.get()

    listing = support_client.get(url)
    detail = support_client.get(f"{url}{row.pk}/change/")

    assert listing.status_code == 200
    assert shows in listing.content.decode()
    assert detail.status_code == 200
    assert "Save" not in detail.content.decode()
    assert support_client.get(f"{url}add/").status_code == 403
    assert support_client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_support_finds_an_error_by_its_request_id(support_client, reported, report, organisation):
    report(error_event(organisation.public_id, request_id="req-other"))

    page = support_client.get("/admin/dashboard/errorlog/?q=req-support-7").content.decode()

    assert "req-support-7" in page
    assert "req-other" not in page


def test_customers_cannot_open_the_admin_lists(owner_client, reported):
    response = owner_client.get("/admin/dashboard/errorlog/")

    assert response.status_code == 302
    assert "/admin/login/" in response.url
