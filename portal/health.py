"""GET /health/: is each part the portal needs reachable? Used by the containers' healthchecks.

No login, no secrets: the answer names each part and says "ok" or "failing" with the exception's
class (never its message, which may hold a URL with a password). 200 when every part is ok, 503
otherwise. Checks: the database (a query), the cache (Redis when REDIS_URL is set: a write and a
read), the Celery broker (a connection) and the private-files storage (a small file written and
deleted on the local volume; a lookup on S3).
"""

import time
import uuid
from collections.abc import Callable

from celery import shared_task
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

BROKER_TIMEOUT_SECONDS = 3


def check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"health-check-{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("the cache did not return what was written")
    cache.delete(key)


def check_broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


def check_storage() -> None:
    storage = storages["private"]
    if isinstance(storage, FileSystemStorage):
        # Writing proves the volume is mounted and writable by the portal's user.
        name = storage.save(f".health/{uuid.uuid4().hex}", ContentFile(b"ok"))
        storage.delete(name)
    else:
        storage.exists(".health/probe")  # a bucket lookup: credentials and bucket are right


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "storage": check_storage,
}


def run_checks() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure of a dependency is a "failing" answer, not a 500
            results[name] = f"failing ({type(exc).__name__})"
        else:
            results[name] = "ok"
    return results


@login_not_required
@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    results = run_checks()
    healthy = all(result == "ok" for result in results.values())
    failing = [name for name, result in results.items() if result != "ok"]
    body = {
        "status": "ok" if healthy else "failing: " + ", ".join(failing),
        "checks": results,
        "seconds": round(time.monotonic() - started, 3),
    }
    return JsonResponse(body, status=200 if healthy else 503)


@shared_task(name="portal.health.beat_heartbeat")
def beat_heartbeat() -> float:
    """Sent by beat every BEAT_HEARTBEAT_SECONDS: beat's schedule file stays fresh while beat works
    (portal/healthcheck.py), and the worker's log shows the beat -> broker -> worker path working."""
    now = time.time()
    cache.set("portal:beat-heartbeat", now, timeout=None)
    return now
