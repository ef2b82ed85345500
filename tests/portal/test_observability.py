"""Failures are visible (issue 14.3): JSON log lines with a request id, tracebacks, the 500 page.

Logging is configured as Django configures it at start-up (its defaults, then settings.LOGGING),
with the handlers' stream swapped for a buffer: what lands there is what an operator would read.
"""

import copy
import gzip
import io
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult
from django.conf import settings as django_settings
from django.test import Client
from django.utils.log import configure_logging

from tests.celery_worker import thread_worker
from tests.conftest import log_in, page_text
from tests.production_env import PRODUCTION_REQUIRED_ENV

pytestmark = pytest.mark.urls("tests.portal.failing_urls")
BASE_DIR = Path(__file__).resolve().parent.parent.parent

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines(settings) -> Iterator[LogLines]:
    """The JSON lines the portal's configured handlers write, from now until the test ends."""
    original = django_settings.LOGGING
    buffer = io.StringIO()
    config = copy.deepcopy(original)
    for handler in config.get("handlers", {}).values():
        if handler.get("class") == "logging.StreamHandler":
            handler["stream"] = buffer
            if "json" in config.get("formatters", {}):
                handler["formatter"] = "json"

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]

    settings.LOGGING = config  # a worker started by the test configures its logging from this too
    configure_logging(django_settings.LOGGING_CONFIG, config)
    yield lines
    configure_logging(django_settings.LOGGING_CONFIG, original)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    return condition()


def access_line(lines: list[dict[str, Any]], path: str) -> dict[str, Any]:
    matching = [line for line in lines if line["logger"] == "portal.access" and line.get("path") == path]
    assert len(matching) == 1, lines
    return matching[0]


def test_a_failing_view_logs_its_traceback_and_the_500_page_gives_the_reference(db, log_lines):
    response = Client(raise_request_exception=False).get("/test-only/boom/")

    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    html = page_text(response)
    assert "Something went wrong on our side" in html
    assert f"quote this reference: <code>{request_id}</code>" in html
    assert "API Platform Portal" in html  # the site's layout, not a bare page

    errors = [line for line in log_lines() if line["level"] == "ERROR" and line["logger"] == "django.request"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == request_id
    assert "Traceback (most recent call last)" in errors[0]["exc_info"]
    assert "RuntimeError: kaboom in a view" in errors[0]["exc_info"]


def test_every_request_gets_one_json_access_line_with_status_and_duration(db, log_lines):
    response = Client().get("/login/", headers={"X-Request-ID": "edge-4f2a9c01b7"})

    assert response.status_code == 200
    assert response["X-Request-ID"] == "edge-4f2a9c01b7"  # the proxy's id is kept
    line = access_line(log_lines(), "/login/")
    assert line["level"] == "INFO"
    assert line["request_id"] == "edge-4f2a9c01b7"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float | int)
    assert line["message"].startswith("GET /login/ 200 ")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["timestamp"])
    assert "user_id" not in line  # nobody is logged in


def test_the_access_line_names_the_user_and_organisation(owner, log_lines):
    response = log_in(Client(), owner).get("/profile/")

    assert response.status_code == 200
    line = access_line(log_lines(), "/profile/")
    assert line["user_id"] == owner.pk
    assert line["organisation_id"] == owner.organisation_id
    assert line["request_id"] == response["X-Request-ID"]


@pytest.mark.parametrize(
    "incoming",
    ["short", "x" * 129, "evil\nINFO forged line", "<script>alert(1)</script>", "id with spaces 1234"],
)
def test_an_insane_incoming_request_id_is_replaced(db, incoming):
    response = Client().get("/login/", headers={"X-Request-ID": incoming})

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_a_password_reset_token_stays_out_of_the_access_log(db, log_lines):
    Client().get("/password/reset/MQ/abc123-0123456789abcdef/")

    paths = [line.get("path") for line in log_lines() if line["logger"] == "portal.access"]
    assert paths == ["/password/reset/MQ/[token]/"]


def test_an_eager_task_queued_by_a_view_logs_with_the_request_id(db, log_lines):
    response = Client().get("/test-only/queue/?text=eager-hello")

    assert response.status_code == 200
    task_lines = [line for line in log_lines() if line["logger"] == "tests.portal.tasks"]
    assert [line["message"] for line in task_lines] == ["task says eager-hello"]
    assert task_lines[0]["request_id"] == response["X-Request-ID"]
    # The view's own access line still has its id after the task put its context back.
    assert access_line(log_lines(), "/test-only/queue/")["request_id"] == response["X-Request-ID"]


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_a_worker_logs_a_queued_task_and_its_failure_with_the_request_id(transactional_db, log_lines):
    with thread_worker():
        client = Client()
        ok = client.get("/test-only/queue/?text=from-the-worker")
        failed = client.get("/test-only/queue/?fail=1&text=on-purpose")

        assert AsyncResult(page_text(ok)).get(timeout=20) == "from-the-worker"
        with pytest.raises(ValueError, match="on-purpose"):
            AsyncResult(page_text(failed)).get(timeout=20)

    def task_line(logger: str, text: str) -> dict[str, Any] | None:
        lines = [line for line in log_lines() if line["logger"] == logger and text in line["message"]]
        return lines[0] if lines else None

    said = wait_for(lambda: task_line("tests.portal.tasks", "from-the-worker"))
    assert said is not None, log_lines()
    assert said["request_id"] == ok["X-Request-ID"]

    failure = wait_for(lambda: task_line("celery.app.trace", "raised unexpected"))
    assert failure is not None, log_lines()
    assert failure["level"] == "ERROR"
    assert failure["request_id"] == failed["X-Request-ID"]
    assert "ValueError: the task broke: on-purpose" in failure["exc_info"]
    assert ok["X-Request-ID"] != failed["X-Request-ID"]


# --- Sentry -------------------------------------------------------------------------------------
# Settings initialise Sentry at import, so each case runs in a fresh Python process with its own
# environment; the DSN points at a small HTTP server here that keeps what the SDK posts.
SENTRY_PROBE = """
import json, django
django.setup()
import sentry_sdk
from django.test import Client, override_settings
client = sentry_sdk.get_client()
print(json.dumps({
    "active": client.is_active(),
    "integrations": sorted(client.integrations),
    "environment": client.options["environment"],
    "release": client.options["release"],
    "send_default_pii": client.options["send_default_pii"],
}))
with override_settings(ROOT_URLCONF="tests.portal.failing_urls"):
    response = Client(raise_request_exception=False).get(
        "/test-only/boom/", secure=True, headers={"Cookie": "portal-production-session=secret-cookie"}
    )
print(json.dumps({"status": response.status_code, "request_id": response["X-Request-ID"]}))
sentry_sdk.flush(timeout=10)
"""


class EnvelopeServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EnvelopeHandler)
        self.envelopes: list[list[dict[str, Any]]] = []


class EnvelopeHandler(BaseHTTPRequestHandler):
    server: EnvelopeServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.envelopes.append([json.loads(line) for line in body.splitlines() if line.strip()])
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sentry_server() -> Iterator[EnvelopeServer]:
    server = EnvelopeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_probe(env: dict[str, str]) -> list[dict[str, Any]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "SENTRY_"))}
    production = {
        **PRODUCTION_REQUIRED_ENV,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "PORTAL_ENVIRONMENT": "production",
    }
    result = subprocess.run(
        [sys.executable, "-c", SENTRY_PROBE],
        cwd=BASE_DIR,
        env={**base, **production, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def events(server: EnvelopeServer) -> list[dict[str, Any]]:
    """The error events in what the SDK sent (an envelope: header, then item header and payload pairs)."""
    found = []
    for envelope in server.envelopes:
        items = envelope[1:]
        for header, payload in zip(items[::2], items[1::2], strict=False):
            if header.get("type") == "event":
                found.append(payload)
    return found


def test_sentry_is_off_without_a_dsn(sentry_server):
    import sentry_sdk

    assert not sentry_sdk.get_client().is_active()  # this test process: no SENTRY_DSN
    client, response = run_probe({})

    assert client["active"] is False
    assert response["status"] == 500
    assert sentry_server.envelopes == []


def test_with_a_dsn_an_unhandled_error_reaches_sentry_without_personal_data(sentry_server):
    port = sentry_server.server_address[1]
    client, response = run_probe(
        {"SENTRY_DSN": f"http://publickey@127.0.0.1:{port}/42", "SENTRY_RELEASE": "portal@1.2.3"}
    )

    assert client["active"] is True
    assert {"django", "celery"} <= set(client["integrations"])
    assert client["send_default_pii"] is False
    assert response["status"] == 500
    sent = [event for event in events(sentry_server) if event.get("exception")]
    assert len(sent) >= 1, sentry_server.envelopes
    event = sent[0]
    exception = event["exception"]["values"][-1]
    assert (exception["type"], exception["value"]) == ("RuntimeError", "kaboom in a view")
    assert event["environment"] == "production"
    assert event["release"] == "portal@1.2.3"
    assert event["tags"]["request_id"] == response["request_id"]
    assert "secret-cookie" not in json.dumps(event)
