"""Fixtures for the dashboard: a platform key, and posting to the ingestion API with it."""

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from platform_api import services as key_services
from tests.conftest import log_in
from tests.dashboard.helpers import batch

USAGE_URL = "/api/platform/v1/usage"
VAULT_URL = "/api/platform/v1/vault-stats"


@pytest.fixture
def platform_key(db) -> str:
    _, plain = key_services.issue_key(name="Platform reporter", acting_user=None)
    return plain


def post_json(path: str, body: Any, *, key: str | None, client: Client | None = None):
    """POST a body (a JSON-able value, or raw bytes/str sent as they are) as the platform does."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return (client or Client()).post(path, data=data, content_type="application/json", headers=headers)


@pytest.fixture
def post_usage(platform_key) -> Callable[..., Any]:
    def post(body: Any, *, key: str | None = platform_key):
        return post_json(USAGE_URL, body, key=key)

    return post


@pytest.fixture
def post_vault(platform_key) -> Callable[..., Any]:
    def post(body: Any, *, key: str | None = platform_key):
        return post_json(VAULT_URL, body, key=key)

    return post


@pytest.fixture
def other_organisation(outsider):
    """The outsider's organisation (Globex Corp)."""
    return outsider.organisation


@pytest.fixture
def outsider_browser(outsider) -> Client:
    """The outsider logged in on a client of their own, beside member_client or owner_client."""
    return log_in(Client(), outsider)


BATCHES = itertools.count()


@pytest.fixture
def report(platform_key):
    """Send usage (``report(*events)``) or a vault count (``report.vault(org, at, n)``) through the API."""

    def usage(*events):
        response = post_json(USAGE_URL, batch(*events, batch_id=f"b{next(BATCHES)}"), key=platform_key)
        assert response.status_code == 200, response.content

    def vault(org, at, count):
        body = {"org": org.public_id, "at": at.isoformat(), "token_count": count}
        assert post_json(VAULT_URL, body, key=platform_key).status_code == 200

    usage.vault = vault
    return usage
