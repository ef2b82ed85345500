"""runserver with PostgreSQL holds no connection per thread (issue 14.6).

runserver handles each request in a new thread; with persistent connections each thread left its
connection open, and 80 concurrent requests used up the server's 100. Here a real runserver on the
test database takes a burst of concurrent requests, then PostgreSQL is asked how many connections
to that database are still open.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.conftest import log_in
from tests.production_env import PRODUCTION_REQUIRED_ENV

BASE_DIR = Path(__file__).resolve().parent.parent.parent
BURST = 40

PRINT_CONNECTION_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({k: settings.DATABASES["default"][k] for k in ["CONN_MAX_AGE", "CONN_HEALTH_CHECKS"]}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_for_the_server() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def open_connections() -> int:
    """Connections to the test database other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )
        return int(cursor.fetchone()[0])


@pytest.fixture(params=[{}, {"DATABASE_CONN_MAX_AGE": "60"}], ids=["default", "persistent-asked-for"])
def runserver(request, tmp_path) -> Iterator[str]:
    """runserver on the test database; also with persistent connections asked for, which it ignores."""
    port = free_port()
    # No REDIS_URL: sessions are read from the database, so every request queries it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    env.update(DATABASE_URL=database_url_for_the_server(), DJANGO_SETTINGS_MODULE="portal.settings", **request.param)
    log = tmp_path / "runserver.log"
    with log.open("w") as output:  # a file, not a pipe that could fill up and stall the server
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_concurrent_requests_leaves_no_connection_per_thread(owner, runserver):
    session = log_in(Client(), owner).cookies[settings.SESSION_COOKIE_NAME].value
    assert open_connections() <= 1  # runserver's own start-up

    def get(_: int) -> int:
        request = urllib.request.Request(
            f"{runserver}/profile/", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert "Olivia Owner" in response.read().decode()  # a logged-in page: session and user queried
            return int(response.status)

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        statuses = list(pool.map(get, range(BURST)))

    assert statuses == [200] * BURST
    # The last threads close their connections as they end: poll, with a deadline. Persistent
    # connections (the bug) would stay open past it.
    deadline = time.monotonic() + 10
    while open_connections() > 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_connections() <= 5


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True}),  # DEBUG on: development
        ({"DJANGO_DEBUG": "0"}, {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}),  # gunicorn in production
        ({"DJANGO_DEBUG": "0", "DATABASE_CONN_MAX_AGE": "0"}, {"CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True}),
    ],
)
def test_persistent_connections_only_in_production_by_default(env, expected):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    production = {"DJANGO_SECRET_KEY": "k" * 60, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    if env.get("DJANGO_DEBUG") == "0":
        production.update(PRODUCTION_REQUIRED_ENV)
    result = subprocess.run(
        [sys.executable, "-c", PRINT_CONNECTION_SETTINGS],
        cwd=BASE_DIR,
        env={**base, **production, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
