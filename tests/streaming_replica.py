"""A real streaming replica of the test database's PostgreSQL server, started for a test.

``pg_basebackup -R`` copies the primary's cluster into a temporary folder and writes the standby
settings; the server binaries of the primary's major version start it on a free port as a hot
standby that streams from the primary. Where that is impossible (no server binaries, a primary
on another machine, ``wal_level = minimal``, no ``replication`` line in its pg_hba.conf, …),
``start()`` raises ``Unavailable`` saying why, and the test is skipped with that message.

The server cannot run as root: when the tests run as root it runs as the ``postgres`` user
(``runuser``), in a folder that user owns. It is stopped (``-m immediate``) and its folder removed
afterwards; no replication slot is created, so nothing is left on the primary.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

LOCAL_HOSTS = {"", "127.0.0.1", "localhost", "::1"}
# Hot standby refuses to start with less of these than the primary has.
MATCHED_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
WAIT_SECONDS = 120
BACKUP_ATTEMPTS = 3
BACKUP_FAILED = "pg_basebackup (does the primary's pg_hba.conf allow 'replication' connections from 127.0.0.1?)"


class Unavailable(Exception):
    """This machine cannot run a streaming replica of the primary; the message says why."""


@dataclass
class StreamingReplica:
    port: int
    folder: Path
    primary: dict[str, Any]  # connection parameters of the primary (the test database)

    def connect(self) -> "psycopg.Connection[Any]":
        """A connection to the test database on the replica (autocommit)."""
        return psycopg.connect(**{**self.primary, "host": "127.0.0.1", "port": self.port}, autocommit=True)

    def connect_primary(self) -> "psycopg.Connection[Any]":
        return psycopg.connect(**self.primary, autocommit=True)

    def catch_up(self) -> None:
        """Return once the replica has replayed everything the primary has written so far."""
        with self.connect_primary() as primary:
            row = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert row is not None
        with self.connect() as replica:
            _poll(
                lambda: (
                    replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [row[0]]).fetchone() == (True,)
                ),
                "the replica to replay the primary's writes",
            )

    def pause_replay(self) -> None:
        with self.connect() as replica:
            replica.execute("SELECT pg_wal_replay_pause()")
            _poll(
                lambda: replica.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() == ("paused",),
                "replay to pause",
            )

    def resume_replay(self) -> None:
        with self.connect() as replica:
            replica.execute("SELECT pg_wal_replay_resume()")


def _poll(done: Any, what: str) -> None:
    """Wait for another process (the replica server) to get somewhere, up to WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_SECONDS} s for {what}")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_binaries(primary: "psycopg.Connection[Any]") -> Path:
    row = primary.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    assert row is not None
    major = row[0]
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin")]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        candidates.append(Path(pg_ctl).resolve().parent)
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("pg_basebackup", "pg_ctl", "postgres")):
            return folder
    raise Unavailable(f"PostgreSQL {major}'s server binaries (pg_basebackup, pg_ctl) are not installed here")


def _as_server_user(folder: Path) -> list[str]:
    """The command prefix that runs PostgreSQL's tools as a user allowed to run a server."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("running as root, and there is no 'postgres' user to run a server as") from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root, and runuser is missing (util-linux)")
    os.chown(folder, user.pw_uid, user.pw_gid)
    return [runuser, "-u", "postgres", "--"]


def _run(command: list[str], *, env: dict[str, str], what: str, output: Path) -> None:
    """Run a tool, its output into a file: a server it starts keeps what it inherits open (a pipe
    would never reach its end)."""
    with output.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False)
    if done.returncode != 0:
        raise Unavailable(f"{what} failed: {output.read_text().strip()[-800:]}")


@contextmanager
def start(primary: dict[str, Any]) -> Iterator[StreamingReplica]:
    """A hot standby of the primary whose connection parameters are given, until the block ends."""
    if str(primary.get("host") or "") not in LOCAL_HOSTS:
        raise Unavailable(f"the primary is on {primary['host']}: the replica is started from its files on this machine")
    with psycopg.connect(**primary, autocommit=True) as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()
        senders = conn.execute("SHOW max_wal_senders").fetchone()
        matched = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in MATCHED_SETTINGS}  # type: ignore[index]
        binaries = _server_binaries(conn)
    if wal_level is None or wal_level[0] == "minimal":
        raise Unavailable("the primary runs with wal_level = minimal: streaming replication needs 'replica'")
    if senders is None or int(senders[0]) == 0:
        raise Unavailable("the primary allows no WAL senders (max_wal_senders = 0)")

    folder = Path(tempfile.mkdtemp(prefix="portal-replica-"))
    port = _free_port()
    data = folder / "data"
    log = folder / "server.log"
    started = False
    try:
        prefix = _as_server_user(folder)
        env = {**os.environ}
        if primary.get("password"):
            env["PGPASSWORD"] = str(primary["password"])
        backup = [str(binaries / "pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "-c", "fast", "--no-sync"]
        backup += ["-h", str(primary.get("host") or "127.0.0.1"), "-p", str(primary.get("port") or 5432)]
        backup += ["-U", str(primary.get("user") or "postgres")]
        for attempt in range(1, BACKUP_ATTEMPTS + 1):
            try:
                _run([*prefix, *backup], env=env, what=BACKUP_FAILED, output=folder / "pg_basebackup.out")
                break
            except Unavailable:
                # A busy primary (many CREATE DATABASE, each an immediate checkpoint) has been seen to
                # end the backup's WAL stream; another attempt then succeeds. A refusal stays one.
                if attempt == BACKUP_ATTEMPTS:
                    raise
                shutil.rmtree(data, ignore_errors=True)
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            f"unix_socket_directories = '{folder}'",
            "hot_standby = on",
            "fsync = off",
            "shared_buffers = '32MB'",
            *(f"{name} = {value}" for name, value in matched.items()),
        ]
        for name, text in [
            ("postgresql.conf", "\n".join(settings) + "\n"),
            ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
            ("pg_ident.conf", ""),
        ]:
            (data / name).write_text(text)
            (data / name).chmod(0o600)
            if prefix:
                owner = pwd.getpwnam("postgres")
                os.chown(data / name, owner.pw_uid, owner.pw_gid)
        pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log)]
        started = True
        _run(
            [*prefix, *pg_ctl, "-w", "-t", str(WAIT_SECONDS), "start"],
            env=env,
            what="starting the replica",
            output=folder / "pg_ctl.out",
        )
        replica = StreamingReplica(port=port, folder=folder, primary=primary)
        replica.catch_up()
        yield replica
    except Unavailable as exc:
        if log.exists():
            raise Unavailable(f"{exc}\nserver log: {log.read_text()[-800:]}") from None
        raise
    finally:
        if started:
            stop = [*prefix, *pg_ctl, "-m", "immediate", "stop"]
            subprocess.run(stop, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(folder, ignore_errors=True)
