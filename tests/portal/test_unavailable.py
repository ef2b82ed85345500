"""A dependency that is down gives a clear 503 page, not a 500 (issue 14.3).

Each test points one part (database, Redis cache, Celery broker) at a closed port on this machine,
fires a real request, and puts the part back.
"""

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from portal.celery import app as celery_app
from tests.conftest import log_in, page_text

pytestmark = pytest.mark.urls("tests.portal.failing_urls")


def closed_port() -> int:
    """A port nothing listens on: bound by us for a moment, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    html = page_text(response)
    assert "The portal is temporarily unavailable" in html
    assert "API Platform Portal" in html  # the site's layout
    assert f"quote this reference: <code>{response['X-Request-ID']}</code>" in html
    assert "Traceback" not in html


def unavailable_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "portal.observability" and r.levelno == logging.ERROR]


@contextmanager
def database_down() -> Iterator[None]:
    """The default database's address changed to a closed port, restored afterwards."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=closed_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Tasks are queued (not eager) to a broker at a closed port; the app's pools are rebuilt around it."""

    def reset_pools() -> None:
        # What Celery does after a fork: the next publish looks up kombu's pool for the broker URL now
        # set. The pools themselves stay open in kombu's registry, ready for the URL put back.
        app: Any = celery_app
        app._pool = None
        app.amqp._producer_pool = None

    saved = celery_app.conf.CELERY_BROKER_URL
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    reset_pools()
    try:
        yield
    finally:
        celery_app.conf.CELERY_BROKER_URL = saved
        reset_pools()


# The database tests change the connection itself: transactional_db, so no test transaction is open.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_down_answers_503_on_the_login_form_and_logs_which_part(caplog):
    client = Client(raise_request_exception=False)

    with database_down():
        response = client.post("/login/", {"username": "owner@acme.example", "password": "a-password-1"})

    assert_unavailable_page(response)
    errors = unavailable_errors(caplog)
    assert len(errors) == 1
    assert errors[0].startswith("Service unavailable: the database cannot be reached (OperationalError")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_down_answers_503_to_a_logged_in_customer(owner, caplog):
    client = log_in(Client(raise_request_exception=False), owner)

    with database_down():
        response = client.get("/")

    assert_unavailable_page(response)
    assert len(unavailable_errors(caplog)) == 1
    assert client.get("/").status_code == 200  # and back once it is


def test_redis_cache_down_answers_503_and_logs_which_part(owner, settings, caplog):
    client = log_in(Client(raise_request_exception=False), owner)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }

    response = client.get("/")

    assert_unavailable_page(response)
    errors = unavailable_errors(caplog)
    assert len(errors) == 1
    assert errors[0].startswith("Service unavailable: Redis cannot be reached (ConnectionError")


def test_broker_down_when_a_view_queues_a_task_answers_503(db, broker_down, caplog):
    response = Client(raise_request_exception=False).get("/test-only/queue/")

    assert_unavailable_page(response)
    errors = unavailable_errors(caplog)
    assert len(errors) == 1
    assert errors[0].startswith("Service unavailable: the message broker cannot be reached (OperationalError")


def test_a_bug_is_still_a_500_not_a_503(db):
    response = Client(raise_request_exception=False).get("/test-only/boom/")

    assert response.status_code == 500
    assert "Retry-After" not in response
