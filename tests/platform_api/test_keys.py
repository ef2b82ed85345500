import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.http import HttpRequest
from django.test import RequestFactory

from audit.models import AuditEvent
from platform_api import services
from platform_api.models import PlatformKey
from tests.race import race


def bearer(plain: str) -> HttpRequest:
    return RequestFactory().get("/api/platform/v1/openapi.json", HTTP_AUTHORIZATION=f"Bearer {plain}")


def test_command_prints_the_key_once_and_stores_only_a_hash(db):
    out = StringIO()

    call_command("create_platform_key", "gateway-eu", stdout=out)

    plain = out.getvalue().strip().splitlines()[-1]
    key = PlatformKey.objects.get()
    assert key.name == "gateway-eu"
    assert plain.startswith("ppk_")
    assert plain not in key.key_hash
    assert services.authenticate(bearer(plain)) == key


@pytest.mark.parametrize(
    "header",
    ["", "Bearer ", "Bearer ppk_nothing", "Basic dXNlcjpwYXNz", "Bearer ppk_{prefix}_wrong-secret", "Bearer {plain}x"],
)
def test_wrong_keys_are_refused(db, header):
    key, plain = services.issue_key(name="gw", acting_user=None)
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=header.format(prefix=key.prefix, plain=plain))

    assert services.authenticate(request) is None


def test_revoked_key_is_refused_and_last_use_is_recorded(db):
    key, plain = services.issue_key(name="gw", acting_user=None)
    assert services.authenticate(bearer(plain)) == key
    services.record_use(key=key, request=bearer(plain))
    key.refresh_from_db()
    assert key.last_used_at is not None

    services.revoke_key(key=key, acting_user=None)

    assert services.authenticate(bearer(plain)) is None
    assert AuditEvent.objects.filter(action="platform_key.revoked").count() == 1


def test_support_issues_a_key_in_the_admin_and_sees_it_once(support_client):
    response = support_client.post("/admin/platform_api/platformkey/add/", {"name": "gateway-us"}, follow=True)

    key = PlatformKey.objects.get(name="gateway-us")
    page = response.content.decode()
    assert "it is not shown again" in page
    plain = page.split("it is not shown again: ")[1].split("<")[0].strip()
    assert services.authenticate(bearer(plain)) == key
    again = support_client.get(f"/admin/platform_api/platformkey/{key.pk}/change/").content.decode()
    assert plain not in again


def test_support_revokes_a_key_with_the_admin_action(support_client):
    key, plain = services.issue_key(name="gw", acting_user=None)

    support_client.post("/admin/platform_api/platformkey/", {"action": "revoke", "_selected_action": [key.pk]})

    assert services.authenticate(bearer(plain)) is None


def test_openapi_document_is_served_and_linked_from_the_admin(client, support_client):
    document = json.loads(client.get("/api/platform/v1/openapi.json").content)

    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/usage", "/vault-stats", "/whitelist/{org}", "/keys/{org}"}
    assert "/api/platform/v1/openapi.json" in support_client.get("/admin/").content.decode()


def usage_call(client, plain: str):
    return client.post(
        "/api/platform/v1/usage", data="{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {plain}"
    )


def test_a_keys_use_is_audited_once_per_minute_with_the_first_calls_method_and_path(client, db):
    key, plain = services.issue_key(name="gw", acting_user=None)
    start = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)

    with time_machine.travel(start, tick=False) as clock:
        for _ in range(3):
            assert usage_call(client, plain).status_code == 400  # authenticated, then the body is refused
        clock.move_to(start + dt.timedelta(seconds=59))
        client.get("/api/platform/v1/whitelist/org_nobody", HTTP_AUTHORIZATION=f"Bearer {plain}")
        clock.move_to(start + dt.timedelta(seconds=61))
        client.get("/api/platform/v1/whitelist/org_nobody", HTTP_AUTHORIZATION=f"Bearer {plain}")

    used = list(AuditEvent.objects.filter(action="platform_key.used").order_by("at").values_list("at", "target_label"))
    assert used == [
        (start, f"{key} POST /api/platform/v1/usage"),
        (start + dt.timedelta(seconds=61), f"{key} GET /api/platform/v1/whitelist/org_nobody"),
    ]
    key.refresh_from_db()
    assert key.last_used_at == start + dt.timedelta(seconds=61)


def test_a_refused_key_is_neither_audited_as_used_nor_marked_used(client, db):
    key, plain = services.issue_key(name="gw", acting_user=None)

    assert usage_call(client, plain + "x").status_code == 401

    key.refresh_from_db()
    assert key.last_used_at is None
    assert not AuditEvent.objects.filter(action="platform_key.used").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_calls_at_once_audit_the_minute_once():
    key, plain = services.issue_key(name="gw", acting_user=None)

    _, errors = race([lambda: services.record_use(key=key, request=bearer(plain)) for _ in range(8)])

    assert not errors
    assert AuditEvent.objects.filter(action="platform_key.used").count() == 1
