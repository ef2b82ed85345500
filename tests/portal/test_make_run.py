"""`make run` (issue 19, newcomer set-up): `PORT=` and `HOST=` choose where it serves, the printout
says where, and links in emails (PORTAL_BASE_URL) point there.

The real Makefile runs with its virtualenv pointed at a stand-in whose `python` only writes down
its arguments and the environment it was given: nothing is installed, migrated or served.
"""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

RECORDER = """#!/bin/sh
printf '%s\\n' "$(printf '%s ' "$@")|$PORTAL_BASE_URL|$DJANGO_ALLOWED_HOSTS" >> "$(dirname "$0")/calls"
"""


def make_run(tmp_path: Path, *arguments: str, env: dict[str, str] | None = None) -> tuple[list[dict[str, str]], str]:
    """Run `make run ARGUMENTS` with the stand-in virtualenv; what each python call got, and the output."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(RECORDER)
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    (venv / ".installed").touch()  # newer than pyproject.toml and the lock: no install
    clean = {k: v for k, v in os.environ.items() if k not in {"PORTAL_BASE_URL", "DJANGO_ALLOWED_HOSTS", "MAKEFLAGS"}}
    result = subprocess.run(
        ["make", "--no-print-directory", "run", f"VENV={venv}", *arguments],
        cwd=settings.BASE_DIR,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    calls = []
    for line in (venv / "bin" / "calls").read_text().splitlines():
        argv, base_url, hosts = line.split("|")
        calls.append({"argv": argv.strip(), "base_url": base_url, "allowed_hosts": hosts})
    return calls, result.stdout


def test_make_run_serves_on_127_0_0_1_port_8000_by_default_named_localhost(tmp_path):
    calls, output = make_run(tmp_path)

    assert [call["argv"] for call in calls] == [
        "manage.py migrate --noinput",
        "manage.py seed_demo",
        "manage.py runserver 127.0.0.1:8000",
    ]
    # Named localhost: browsers refuse passkeys (WebAuthn) on an IP address.
    assert {call["base_url"] for call in calls} == {"http://localhost:8000"}
    assert "Serving the portal on http://localhost:8000/" in output


def test_make_run_port_8001_serves_there_and_emails_link_there(tmp_path):
    calls, output = make_run(tmp_path, "PORT=8001")

    seed, server = calls[1], calls[2]
    assert server["argv"] == "manage.py runserver 127.0.0.1:8001"
    # seed_demo prints the address too, and the emails of the running portal link to it.
    assert seed["base_url"] == server["base_url"] == "http://localhost:8001"
    assert "Serving the portal on http://localhost:8001/" in output


def test_make_run_host_chooses_the_interface_and_is_an_allowed_host(tmp_path):
    calls, output = make_run(tmp_path, "HOST=localhost", "PORT=8002")

    server = calls[2]
    assert server["argv"] == "manage.py runserver localhost:8002"
    assert server["base_url"] == "http://localhost:8002"
    assert "localhost" in server["allowed_hosts"].split(",")
    assert "Serving the portal on http://localhost:8002/" in output


def test_make_run_on_every_interface_links_to_this_machine(tmp_path):
    calls, output = make_run(tmp_path, "HOST=0.0.0.0", "PORT=9000")

    server = calls[2]
    assert server["argv"] == "manage.py runserver 0.0.0.0:9000"
    assert server["base_url"] == "http://localhost:9000"
    assert "Serving the portal on http://localhost:9000/" in output


def test_a_portal_base_url_given_by_the_person_running_it_is_kept(tmp_path):
    calls, _ = make_run(tmp_path, "PORT=8003", env={"PORTAL_BASE_URL": "https://portal.dev.example"})

    assert calls[2]["argv"] == "manage.py runserver 127.0.0.1:8003"
    assert {call["base_url"] for call in calls} == {"https://portal.dev.example"}


def test_an_exported_host_variable_does_not_move_the_server(tmp_path):
    """tcsh exports HOST (the machine's name): only `make run HOST=…` chooses the interface."""
    calls, _ = make_run(tmp_path, env={"HOST": "build-machine-7"})

    assert calls[2]["argv"] == "manage.py runserver 127.0.0.1:8000"
