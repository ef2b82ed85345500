"""seed_demo refuses a deployment with DJANGO_DEBUG=0 unless told --i-know (issue 14.6).

The demo users' passwords and second factors are published (README, `make run`): seeded into
production by mistake, they would be a way in.
"""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organisation, User
from tests.production_env import PRODUCTION_REQUIRED_ENV

BASE_DIR = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault


def test_with_debug_off_seed_demo_refuses_and_writes_nothing(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "0")

    with pytest.raises(CommandError, match=r"refuses to run with DJANGO_DEBUG=0\. Pass --i-know"):
        call_command("seed_demo", stdout=StringIO())

    assert not User.objects.exists()
    assert not Organisation.objects.exists()


def test_with_debug_off_seed_demo_runs_when_told_i_know(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "0")

    call_command("seed_demo", "--i-know", stdout=StringIO())

    assert User.objects.filter(email="alice@acme.example").exists()


def test_with_debug_on_seed_demo_runs_as_make_run_uses_it(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "1")

    call_command("seed_demo", stdout=StringIO())

    assert User.objects.filter(email="alice@acme.example").exists()


def test_from_the_command_line_the_refusal_exits_non_zero_before_touching_the_database(tmp_path):
    database = tmp_path / "never-created.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "VAULT_"))}
    # A production environment whose database (port 1) could not even be reached.
    env.update(PRODUCTION_REQUIRED_ENV, DJANGO_SECRET_KEY="k" * 60, DATABASE_URL="postgres://portal@127.0.0.1:1/portal")

    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "refuses to run with DJANGO_DEBUG=0" in result.stderr
    assert not database.exists()
