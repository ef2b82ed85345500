"""Several instances, one state (issue 18.2).

Two gunicorn instances (A and B, separate processes on two ports) and two Celery workers
(separate processes, prefork, one child each) run on the test database and the test's Redis. The
test drives them over HTTP, as a browser and the platform would, and shows that nothing assumes
one process: a session started on A continues on B; the per-token send cooldown, the hourly send
limit, the password-reset limit and the login lock count across instances; a duplicate usage
batch sent to A and B at once is stored once; an extract delivered to both workers is written
once; the home page's cached fragments drawn on B are redrawn after a write through A.

The processes start once for the module (about 10 s on a 2-core machine); every test has its own
committed data (``transaction=True``) and an empty Redis (the autouse ``cache.clear()``).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import AuditEvent
from dashboard.models import DailyMethodCount, ErrorLog, IngestedBatch
from extracts.models import ExtractRequest, Status
from extracts.vault import add_demo_tokens, create_vault_table
from files.models import StoredFile
from platform_api import services as platform_keys
from portal.celery import app
from tests.celery_worker import wait_until_settled, worker_process_command
from tests.factories import PASSWORD, AdminFactory, UserFactory
from tokens.models import EmailCodeDevice, Token, TokenKind

BASE_DIR = Path(__file__).resolve().parents[2]
VAULT_ON_POSTGRES = os.environ.get("VAULT_DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
SENDS_PER_USER_PER_HOUR = 3  # the instances' TOKEN_SENDS_PER_USER_PER_HOUR, small to reach it quickly
EXTRACT_TOKENS = 10_000
USAGE_URL = "/api/platform/v1/usage"
ANY_ID = r"[0-9a-f-]+"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(alias: str) -> str:
    """The test database of ``alias`` (``test_<name>`` once pytest-django has set it up)."""
    params = connections[alias].get_connection_params()
    password = f":{params['password']}" if params.get("password") else ""
    host, port = params.get("host") or "127.0.0.1", params.get("port") or 5432
    return f"postgres://{params.get('user', 'postgres')}{password}@{host}:{port}/{params['dbname']}"


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Process:
    """A server or worker in a subprocess, its output in a file (a pipe could fill and stall it)."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                self.command, cwd=BASE_DIR, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Cluster:
    a: str  # base URL of instance A
    b: str  # base URL of instance B
    workers: list[Process]
    mail: Path
    private_files: Path

    def messages(self, subject: str) -> list[str]:
        """E-mails sent by any process (the file backend: one file per connection, maybe several messages)."""
        found = []
        for path in sorted(self.mail.glob("*.log")) if self.mail.exists() else []:
            for message in path.read_text().split("\n" + "-" * 79 + "\n"):
                if f"Subject: {subject}" in message:
                    found.append(message)
        return found

    def settled_messages(self, subject: str, expected: int) -> list[str]:
        """The messages once ``expected`` have arrived and the workers have nothing left to send."""
        wait_for(lambda: len(self.messages(subject)) >= expected, timeout=60, what=f"{expected} of {subject!r}")
        wait_until_settled(timeout=60)  # a further message, if one were queued, is written by now
        return self.messages(subject)


@pytest.fixture(scope="module")
def cluster(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("several-instances")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url("default"),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(folder / "mail"),
        "PRIVATE_FILES_ROOT": str(folder / "private-files"),
        "TOKEN_SENDS_PER_USER_PER_HOUR": str(SENDS_PER_USER_PER_HOUR),
        "EXTRACT_CHUNK_ROWS": "20",
        "LOG_LEVEL": "INFO",
    }
    if VAULT_ON_POSTGRES:
        env["VAULT_DATABASE_URL"] = database_url("vault")
    ports = [free_port(), free_port()]
    servers = [
        Process(
            f"gunicorn {name}",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--threads=4",
                "--graceful-timeout=5",
            ],
            env,
            folder / f"gunicorn-{name}.log",
        )
        for name, port in zip("AB", ports, strict=True)
    ]
    workers = [
        Process(
            f"worker {n}",
            worker_process_command(f"instance-test-{n}-{uuid.uuid4().hex[:6]}@%h"),
            env,
            folder / f"worker-{n}.log",
        )
        for n in (1, 2)
    ]
    try:
        for server, port in zip(servers, ports, strict=True):

            def answers(server: Process = server, port: int = port) -> bool:
                server.check_alive()
                try:
                    return requests.get(f"http://127.0.0.1:{port}/health/", timeout=20).status_code == 200
                except requests.RequestException:  # not listening yet, or busy starting
                    return False

            wait_for(answers, timeout=120, what=f"{server.name} to answer /health/ (its log: {server.log})")
        for worker in workers:

            def ready(worker: Process = worker) -> bool:
                worker.check_alive()
                return "ready." in worker.output()

            wait_for(ready, timeout=120, what=f"{worker.name} to start")
        yield Cluster(
            a=f"http://127.0.0.1:{ports[0]}",
            b=f"http://127.0.0.1:{ports[1]}",
            workers=workers,
            mail=folder / "mail",
            private_files=folder / "private-files",
        )
    finally:
        for process in [*servers, *workers]:
            process.terminate()  # all at once: each takes a few seconds to shut down
        for process in [*servers, *workers]:
            process.stop()


@pytest.fixture
def instances(cluster: Cluster) -> Iterator[Cluster]:
    """The running instances, with no mail left from an earlier test and nothing left on the queue."""
    app.conf.CELERY_TASK_ALWAYS_EAGER = False  # this process only publishes; tests/conftest.py sets it back
    app.control.purge()
    for path in cluster.mail.glob("*") if cluster.mail.exists() else []:
        path.unlink()
    yield cluster
    for worker in cluster.workers:
        worker.check_alive()


# --- A browser speaking to either instance ----------------------------------------------------

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def form_token(browser: requests.Session, url: str) -> str:
    page = browser.get(url, timeout=30)
    assert page.status_code == 200, (url, page.status_code)
    match = CSRF_INPUT.search(page.text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def submit(browser: requests.Session, base: str, path: str, data: dict[str, str], *, form: str | None = None):
    """GET the form page (``form`` or ``path``) on ``base``, POST ``data`` to ``path`` with its CSRF token."""
    token = form_token(browser, base + (form or path))
    return browser.post(base + path, data={"csrfmiddlewaretoken": token, **data}, allow_redirects=False, timeout=60)


def authenticator_code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def enter_password(browser: requests.Session, base: str, user: User, password: str = PASSWORD):
    return submit(browser, base, "/login/", {"username": user.email, "password": password})


def log_in(browser: requests.Session, base: str, user: User) -> None:
    """Password and authenticator code, both on ``base``."""
    answer = enter_password(browser, base, user)
    assert (answer.status_code, answer.headers.get("Location")) == (302, "/login/code/"), answer.text[:2000]
    answer = submit(browser, base, "/login/code/", {"code": authenticator_code(user)})
    assert (answer.status_code, answer.headers.get("Location")) == (302, "/"), answer.text[:2000]


# --- Sessions -----------------------------------------------------------------------------------


def test_a_session_started_on_one_instance_continues_on_the_other(instances, owner):
    browser = requests.Session()
    log_in(browser, instances.a, owner)  # password and TOTP on A
    cookie = browser.cookies.get(settings.SESSION_COOKIE_NAME)
    assert cookie

    on_b = browser.get(instances.b + "/profile/", allow_redirects=False, timeout=30)
    assert on_b.status_code == 200
    assert "Olivia Owner" in on_b.text
    # The same cookie, not a new session: B neither logged anyone in nor replaced it.
    assert browser.cookies.get(settings.SESSION_COOKIE_NAME) == cookie
    assert browser.get(instances.a + "/", allow_redirects=False, timeout=30).status_code == 200

    # Logging out on B ends the session on A too.
    assert submit(browser, instances.b, "/logout/", {}, form="/profile/").status_code == 302
    back_on_a = requests.get(
        instances.a + "/profile/", cookies={settings.SESSION_COOKIE_NAME: cookie}, allow_redirects=False, timeout=30
    )
    assert back_on_a.status_code == 302
    assert back_on_a.headers["Location"].startswith("/login/")


# --- Rate limits and the login lock -------------------------------------------------------------


def email_token(user: User, address: str) -> Token:
    device = EmailCodeDevice.objects.create(user=user, name=address, email=address, confirmed=True)
    return Token.objects.create(
        user=user, kind=TokenKind.EMAIL, device_type=ContentType.objects.get_for_model(device), device_id=device.pk
    )


def ask_for_code(browser: requests.Session, base: str, token: Token) -> str:
    """Press "send a code" for ``token`` on the login's code step of ``base``; the message shown."""
    answer = submit(browser, base, "/login/code/", {"send": str(token.pk)})
    assert (answer.status_code, answer.headers.get("Location")) == (302, "/login/code/")
    page = browser.get(base + "/login/code/", timeout=30).text
    shown = re.findall(r"(We sent a code to [^<]*|A code was just sent[^<]*|Too many codes sent to you[^<]*)", page)
    assert len(shown) == 1, page
    return shown[0]


def test_the_send_cooldown_and_the_hourly_send_limit_count_across_instances(instances, member):
    tokens = [email_token(member, f"codes-{n}@acme.example") for n in range(4)]
    browser = requests.Session()
    answer = enter_password(browser, instances.a, member)
    assert answer.headers.get("Location") == "/login/code/"

    assert ask_for_code(browser, instances.a, tokens[0]).startswith("We sent a code to")
    # The same token on B at once: B sees A's cooldown.
    assert ask_for_code(browser, instances.b, tokens[0]).startswith("A code was just sent. Please wait")
    # Other tokens (no cooldown): the third send of the hour, on either instance, is the last one.
    assert ask_for_code(browser, instances.b, tokens[1]).startswith("We sent a code to")
    assert ask_for_code(browser, instances.a, tokens[2]).startswith("We sent a code to")
    assert ask_for_code(browser, instances.b, tokens[3]).startswith("Too many codes sent to you in the last hour")
    assert ask_for_code(browser, instances.a, tokens[3]).startswith("Too many codes sent to you in the last hour")

    sent = instances.settled_messages("Your security code", SENDS_PER_USER_PER_HOUR)
    assert len(sent) == SENDS_PER_USER_PER_HOUR
    assert sorted(re.search(r"To: (\S+)", message).group(1) for message in sent) == [
        "codes-0@acme.example",
        "codes-1@acme.example",
        "codes-2@acme.example",
    ]


def test_the_password_reset_limit_per_address_counts_across_instances(instances, member):
    limit = settings.PASSWORD_RESETS_PER_EMAIL_PER_HOUR
    for n in range(limit + 2):
        base = instances.a if n % 2 == 0 else instances.b
        answer = submit(requests.Session(), base, "/password/reset/", {"email": member.email})
        # Every request gets the same answer: the page never tells whether an email went.
        assert (answer.status_code, answer.headers.get("Location")) == (302, "/password/reset/sent/")

    sent = instances.settled_messages("Reset your password", limit)
    assert len(sent) == limit == 3
    assert all(f"To: {member.email}" in message for message in sent)


def test_the_login_lock_counts_wrong_passwords_on_both_instances(instances, organisation):
    locked = UserFactory.create(organisation=organisation, email="locked@acme.example")
    not_yet = UserFactory.create(organisation=organisation, email="not-yet@acme.example")
    browser = requests.Session()

    def wrong(base: str, user: User) -> int:
        return int(enter_password(browser, base, user, password="not-the-password").status_code)

    # 3 wrong passwords on A and 2 on B: the fifth locks the account, as on one instance.
    on_a = [wrong(instances.a, locked) for _ in range(3)]
    on_b = [wrong(instances.b, locked) for _ in range(2)]
    assert on_a + on_b == [200, 200, 200, 200, 429]
    refused_on_a = enter_password(browser, instances.a, locked)
    refused_on_b = enter_password(browser, instances.b, locked)
    assert (refused_on_a.status_code, refused_on_b.status_code) == (429, 429)  # the right password, refused
    assert "Too many failed attempts" in refused_on_a.text
    assert "Too many failed attempts" in refused_on_b.text

    # One fewer (3 on A, 1 on B) is not a lock: the right password still logs in, on either.
    assert [wrong(instances.a, not_yet) for _ in range(3)] + [wrong(instances.b, not_yet)] == [200] * 4
    assert enter_password(browser, instances.b, not_yet).headers.get("Location") == "/login/code/"


# --- Ingestion ----------------------------------------------------------------------------------


def usage_batch(organisation_id: str, batch_id: str, *, error_code: str = "CARD_DECLINED") -> dict[str, Any]:
    at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    events: list[dict[str, Any]] = [{"org": organisation_id, "method": "Tokenize", "at": at, "status": "ok"}] * 99
    error = {"code": error_code, "message": "Declined.", "request_id": batch_id, "source_ip": "203.0.113.9"}
    events.append({"org": organisation_id, "method": "Tokenize", "at": at, "status": "error", "error": error})
    return {"batch_id": batch_id, "events": events}


def post_usage(base: str, key: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(base + USAGE_URL, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def send_to_both_at_once(bases: list[str], key: str, body: dict[str, Any]) -> list[requests.Response]:
    """The same batch POSTed to each instance by its own thread, released together."""
    barrier = threading.Barrier(len(bases))

    def send(base: str) -> requests.Response:
        barrier.wait(timeout=10)
        return post_usage(base, key, body)

    with ThreadPoolExecutor(max_workers=len(bases)) as pool:
        return list(pool.map(send, bases))


def test_a_batch_sent_to_both_instances_at_once_is_counted_once(instances, organisation):
    _, key = platform_keys.issue_key(name="Platform reporter", acting_user=None)
    rounds = 5
    statuses = []
    for n in range(rounds):
        answers = send_to_both_at_once(
            [instances.a, instances.b], key, usage_batch(organisation.public_id, f"twice-{n}")
        )
        assert [answer.status_code for answer in answers] == [200, 200]
        statuses.append(sorted(answer.json()["status"] for answer in answers))

    assert statuses == [["duplicate", "stored"]] * rounds
    assert sum(DailyMethodCount.objects.values_list("calls", flat=True)) == 100 * rounds
    assert ErrorLog.objects.count() == rounds
    assert IngestedBatch.objects.count() == rounds


# --- Cached fragments ---------------------------------------------------------------------------


def test_the_home_pages_cached_fragments_are_redrawn_on_both_after_a_write_through_one(instances, owner):
    _, key = platform_keys.issue_key(name="Platform reporter", acting_user=None)
    browser = requests.Session()
    log_in(browser, instances.a, owner)
    for base in (instances.a, instances.b, instances.a, instances.b):  # both warm: drawn, then served cached
        page = browser.get(base + "/", timeout=30)
        assert page.status_code == 200
        assert "SCALE_TEST_FAILURE" not in page.text
        assert "Olivia Owner" in page.text

    assert (
        post_usage(
            instances.a, key, usage_batch(owner.organisation.public_id, "new", error_code="SCALE_TEST_FAILURE")
        ).json()["status"]
        == "stored"
    )
    assert "SCALE_TEST_FAILURE" in browser.get(instances.b + "/", timeout=30).text

    # The user's own card: a token renamed through A shows on B.
    token = Token.objects.get(user=owner, kind=TokenKind.TOTP)
    path = f"/tokens/{token.pk}/edit/"
    assert submit(browser, instances.a, path, {"description": "Phone in the safe"}).status_code == 302
    for base in (instances.b, instances.a):
        assert "Phone in the safe" in browser.get(base + "/", timeout=30).text


# --- Extracts -----------------------------------------------------------------------------------


@pytest.fixture
def vault() -> Iterator[None]:
    create_vault_table()
    yield
    with connections["vault"].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS vault_tokens")


@pytest.mark.skipif(
    not VAULT_ON_POSTGRES,
    reason="needs a PostgreSQL vault the worker processes can reach: set VAULT_DATABASE_URL=postgres://…",
)
@pytest.mark.django_db(transaction=True, databases=["default", "vault"])
def test_an_extract_delivered_to_both_workers_is_written_once(instances, vault, organisation):
    owner = AdminFactory.create(organisation=organisation, email="owner@acme.example", full_name="Olivia Owner")
    add_demo_tokens(organisation.public_id, start=0, count=EXTRACT_TOKENS)
    browser = requests.Session()
    log_in(browser, instances.a, owner)
    earlier = [len(worker.output()) for worker in instances.workers]  # the workers' logs of earlier tests

    answer = submit(browser, instances.a, "/extracts/request/", {}, form="/extracts/")  # A queues the task
    assert (answer.status_code, answer.headers.get("Location")) == (302, "/extracts/")
    extract = ExtractRequest.objects.get()
    # The same task again, as a redelivery or a double click that got through would send it: with
    # one child each and a prefetch of one, the second message goes to the other worker.
    duplicate = app.send_task("extracts.tasks.run_extract", args=[extract.pk])

    assert duplicate.get(timeout=120) == "done"
    extract.refresh_from_db()
    assert (extract.status, extract.attempts, extract.rows_written) == (Status.DONE, 1, EXTRACT_TOKENS)
    # Each worker had a copy, and the second arrived while the first was being written.
    logs = [worker.output()[start:] for worker, start in zip(instances.workers, earlier, strict=True)]
    received = [re.findall(rf"^(\S+ \S+) INFO .*run_extract\[{ANY_ID}\] received", log, re.M) for log in logs]
    assert [len(times) for times in received] == [1, 1]
    [written] = [
        re.search(rf"^(\S+ \S+) INFO .*run_extract\[{ANY_ID}\] succeeded", log, re.M)
        for log in logs
        if "not started" not in log
    ]
    assert written is not None
    assert max(times[0] for times in received) < written.group(1), logs
    assert StoredFile.objects.count() == 1
    assert len([path for path in instances.private_files.rglob("*") if path.is_file()]) == 1
    assert AuditEvent.objects.filter(action="extract.done").count() == 1
    assert not AuditEvent.objects.filter(action="extract.restarted").exists()
    ready = instances.settled_messages("Your token extract is ready", 1)
    assert len(ready) == 1
