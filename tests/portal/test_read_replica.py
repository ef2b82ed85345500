"""The optional read replica (DATABASE_REPLICA_URL): pages that tolerate lag read it; logins,
security decisions and writes use the primary.

The first tests need no second server: the replica alias is a test mirror of the test database,
and the code that picks the alias is checked directly. The last one starts a real streaming
replica of the machine's PostgreSQL (tests/streaming_replica.py), pauses its replay, and shows
what a user sees while it lags.
"""

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.utils import load_backend
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp.oath import TOTP

from common import fragments
from common.replica import REPLICA, lag_tolerant
from dashboard.models import ErrorLog
from dashboard.selectors import daily_counters, utc_today, vault_daily
from platform_api import services as key_services
from tests import streaming_replica
from tests.conftest import log_in, page_text
from tests.dashboard.conftest import USAGE_URL, post_json
from tests.dashboard.helpers import batch, error_event, hours_ago
from tests.factories import PASSWORD

NEW_PASSWORD = "a-new-password-set-while-the-replica-lags"


def settings_with(**environment: str) -> dict[str, dict[str, object]]:
    """portal.settings.DATABASES as a process with this environment loads it."""
    code = "import json; from portal import settings; print(json.dumps(settings.DATABASES, default=str))"
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_REPLICA_URL"} | environment
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": {"message": done.stderr.strip().splitlines()[-1]}}
    loaded: dict[str, dict[str, object]] = json.loads(done.stdout)
    return loaded


def test_without_a_replica_url_there_is_only_the_primary():
    databases = settings_with(DATABASE_URL="postgres://portal@db.example:5432/portal")

    assert set(databases) == {"default", "vault"}


def test_a_replica_url_adds_a_replica_that_tests_mirror_from_the_test_database():
    databases = settings_with(
        DATABASE_URL="postgres://portal@db.example:5432/portal",
        DATABASE_REPLICA_URL="postgres://reader@replica.example:5432/portal",
    )

    assert databases["replica"]["HOST"] == "replica.example"
    assert databases["replica"]["USER"] == "reader"
    # pytest-django creates no database on the replica: it reads the test database instead.
    assert databases["replica"]["TEST"] == {"MIRROR": "default"}


def test_a_replica_of_another_kind_of_database_is_refused():
    databases = settings_with(
        DATABASE_URL="postgres://portal@db.example:5432/portal", DATABASE_REPLICA_URL="sqlite:///replica.sqlite3"
    )

    assert "DATABASE_REPLICA_URL must be a replica of DATABASE_URL" in databases["error"]["message"]


@contextmanager
def replica_alias(settings_dict: dict[str, Any]) -> Iterator[None]:
    """The "replica" alias for one test, with these settings.

    Django refuses a connection to an alias the test did not declare, and a test declares its
    aliases before any fixture runs; so the connection is built under another name (one Django
    allows, as created by the test itself) and put in place of "replica".
    """
    assert REPLICA not in connections.settings, "DATABASE_REPLICA_URL is set: these tests set the replica up"
    connections.settings[REPLICA] = settings_dict
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "replica-in-this-test")
    connections[REPLICA] = wrapper
    try:
        yield
    finally:
        wrapper.close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


@pytest.fixture
def replica_configured() -> Iterator[None]:
    """The replica alias as the settings make it in tests: a mirror of the test database."""
    if os.environ.get("DATABASE_REPLICA_URL"):
        pytest.skip("DATABASE_REPLICA_URL is set: these tests set the replica up")
    mirror = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    mirror["TEST"] = {**mirror["TEST"], "MIRROR": DEFAULT_DB_ALIAS}
    with replica_alias(mirror):
        yield


def test_lag_tolerant_reads_go_to_the_primary_without_a_replica():
    if REPLICA in connections.settings:
        pytest.skip("DATABASE_REPLICA_URL is set for this run")
    assert lag_tolerant() == DEFAULT_DB_ALIAS


@pytest.mark.django_db(transaction=True)
def test_lag_tolerant_reads_go_to_the_replica_but_not_inside_a_transaction(replica_configured):
    assert lag_tolerant() == REPLICA
    with transaction.atomic():
        # What this transaction wrote is not on the replica yet: read it back from the primary.
        assert lag_tolerant() == DEFAULT_DB_ALIAS
    assert lag_tolerant() == REPLICA


@pytest.mark.django_db(transaction=True)
def test_the_vault_history_and_the_usage_download_read_the_replica(replica_configured, member):
    today = utc_today()

    assert daily_counters(user=member, first_day=today - timedelta(days=6), last_day=today).db == REPLICA
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        vault_daily(user=member, first_day=today - timedelta(days=6), last_day=today)
    assert len(on_replica) == 1


@pytest.mark.django_db(transaction=True)
def test_an_object_read_from_the_replica_is_saved_to_the_primary(replica_configured, organisation):
    ErrorLog.objects.create(
        organisation=organisation,
        at=hours_ago(1),
        method="Tokenize",
        code="E",
        message="m",
        request_id="r",
        source_ip="10.0.0.1",
    )
    row = ErrorLog.objects.using(REPLICA).get()

    row.message = "changed"
    row.save()

    assert ErrorLog.objects.using(DEFAULT_DB_ALIAS).get().message == "changed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("with_replica", "seconds"), [(False, 60), (True, 5)])
def test_usage_from_the_replica_is_cached_seconds_not_a_minute(request, monkeypatch, owner, with_replica, seconds):
    if with_replica:
        request.getfixturevalue("replica_configured")
    elif REPLICA in connections.settings:
        pytest.skip("DATABASE_REPLICA_URL is set for this run")
    stored: dict[str, int] = {}
    real_set = fragments.cache.set

    def recording_set(key: str, value: Any, timeout: Any = None, **options: Any) -> None:
        # Also what an in-process cache's set_many calls, one key at a time, with a version.
        stored[key] = timeout
        real_set(key, value, timeout, **options)

    monkeypatch.setattr(fragments.cache, "set", recording_set)

    assert log_in(Client(), owner).get("/").status_code == 200

    assert [timeout for key, timeout in stored.items() if key.startswith("dashboard:usage:")] == [seconds]


# --- A real streaming replica ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def streaming(django_db_setup, django_db_blocker) -> Iterator[streaming_replica.StreamingReplica]:
    if os.environ.get("DATABASE_REPLICA_URL"):
        pytest.skip("DATABASE_REPLICA_URL is set: this test starts a replica of its own")
    # Connection parameters of the test database (pytest-django has created it by now).
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    primary = {key: params[key] for key in ("dbname", "user", "password", "host", "port") if params.get(key)}
    try:
        with streaming_replica.start(primary) as replica:
            yield replica
    except streaming_replica.Unavailable as exc:
        pytest.skip(f"no streaming replica on this machine: {exc}")


@pytest.fixture
def replica(streaming, transactional_db) -> Iterator[streaming_replica.StreamingReplica]:
    """The replica alias pointing at the real replica, for one test (committed writes replicate)."""
    settings_dict = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    settings_dict.update(HOST="127.0.0.1", PORT=streaming.port)
    settings_dict["TEST"] = {**settings_dict["TEST"], "MIRROR": None}
    with replica_alias(settings_dict):
        try:
            yield streaming
        finally:
            streaming.resume_replay()


@pytest.fixture
def platform_key(transactional_db) -> str:
    _, plain = key_services.issue_key(name="Platform reporter", acting_user=None)
    return plain


def codes_on(page) -> str:
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pages_read_the_replica_while_logins_and_writes_use_the_primary(replica, owner, member, platform_key, client):
    org = owner.organisation.public_id
    owner_client = log_in(Client(), owner)
    stored = post_json(USAGE_URL, batch(error_event(org, code="BEFORE_PAUSE"), batch_id="before"), key=platform_key)
    assert stored.json()["status"] == "stored"
    replica.catch_up()
    assert "BEFORE_PAUSE" in codes_on(owner_client.get("/errors/"))

    replica.pause_replay()
    stored = post_json(USAGE_URL, batch(error_event(org, code="DURING_PAUSE"), batch_id="during"), key=platform_key)
    member.set_password(NEW_PASSWORD)
    member.save()

    # The write is on the primary at once ...
    assert stored.json()["status"] == "stored"
    assert ErrorLog.objects.using(DEFAULT_DB_ALIAS).filter(code="DURING_PAUSE").count() == 1
    # ... and not yet on the replica, which serves the pages that tolerate lag.
    with replica.connect() as replica_db:
        on_replica = replica_db.execute("SELECT count(*) FROM dashboard_errorlog WHERE code = 'DURING_PAUSE'")
        assert on_replica.fetchone() == (0,)
    errors_page = codes_on(owner_client.get("/errors/"))
    assert "BEFORE_PAUSE" in errors_page
    assert "DURING_PAUSE" not in errors_page
    export = b"".join(owner_client.get("/errors/export.csv").streaming_content).decode()
    assert "BEFORE_PAUSE" in export
    assert "DURING_PAUSE" not in export
    home = codes_on(owner_client.get("/"))
    assert "BEFORE_PAUSE" in home  # the dashboard's latest failed calls
    assert "DURING_PAUSE" not in home

    # A login reads the primary: the password changed a moment ago is the one that works.
    refused = client.post("/login/", {"username": member.email, "password": PASSWORD})
    assert "The email or password is not correct." in page_text(refused)
    accepted = client.post("/login/", {"username": member.email, "password": NEW_PASSWORD})
    assert accepted.status_code == 302
    assert accepted.url == "/login/code/"
    device = member.totpdevice_set.get()
    code = f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"
    assert client.post("/login/code/", {"code": code}).url == "/"

    replica.resume_replay()
    replica.catch_up()

    assert "DURING_PAUSE" in codes_on(owner_client.get("/errors/"))
