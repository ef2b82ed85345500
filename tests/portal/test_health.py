"""/health/ tells an operator (and the containers' healthchecks) which part is down, and nothing else."""

import json

import pytest
from django.test import Client

from tests.conftest import USING_REDIS

# Nothing listens on port 1: connections are refused at once.
DEAD_REDIS = "redis://127.0.0.1:1/0"
EVERY_PART = {"database", "cache", "broker", "storage"}


def health(client: Client) -> tuple[int, dict]:
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


@pytest.mark.django_db
def test_all_parts_ok_answers_200_without_login(client):
    status, body = health(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"] == dict.fromkeys(EVERY_PART, "ok")


@pytest.mark.redis
@pytest.mark.django_db
def test_all_parts_ok_on_real_redis_and_broker(client, settings):
    assert USING_REDIS and settings.CELERY_BROKER_URL.startswith("redis://")
    status, body = health(client)
    assert (status, body["checks"]) == (200, dict.fromkeys(EVERY_PART, "ok"))


@pytest.mark.django_db
def test_a_dead_cache_answers_503_naming_the_cache(client, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    status, body = health(client)
    assert status == 503
    assert body["status"] == "failing: cache"
    assert body["checks"]["cache"] == "failing (ConnectionError)"
    assert {name: body["checks"][name] for name in EVERY_PART - {"cache"}} == dict.fromkeys(
        EVERY_PART - {"cache"}, "ok"
    )


@pytest.mark.django_db
def test_a_dead_broker_answers_503_naming_the_broker_without_its_url(client, settings):
    settings.CELERY_BROKER_URL = "redis://:broker-secret-password@127.0.0.1:1/0"
    status, body = health(client)
    assert status == 503
    assert body["status"] == "failing: broker"
    assert body["checks"]["broker"].startswith("failing (")
    assert "broker-secret-password" not in json.dumps(body)
    assert "127.0.0.1" not in json.dumps(body)


@pytest.mark.django_db
def test_unwritable_private_storage_answers_503_naming_the_storage(client, settings, tmp_path):
    blocker = tmp_path / "a-file-not-a-folder"
    blocker.write_text("x")
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "private-files"), "base_url": None},
        },
    }
    status, body = health(client)
    assert status == 503
    assert body["status"] == "failing: storage"
    assert str(tmp_path) not in json.dumps(body)


@pytest.mark.django_db
def test_health_is_reachable_over_plain_http_in_production(client, settings):
    """The containers' healthcheck calls http://…/health/; every other path is redirected to HTTPS."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/login/").status_code == 301
    status, body = health(client)
    assert status == 200, body


@pytest.mark.django_db
def test_health_leaves_no_file_behind(client, settings, tmp_path):
    status, _ = health(client)
    assert status == 200
    private = tmp_path / "private-files"
    assert not [path for path in private.rglob("*") if path.is_file()]


def test_health_only_answers_get(client):
    assert client.post("/health/").status_code == 405
