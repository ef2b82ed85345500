import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.test import RequestFactory

from audit.models import AuditEvent
from platform_api import services
from platform_api.models import PlatformKey


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
