"""The production shape in docker-compose.yml starts what the code provides (SPEC §1)."""

import importlib
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from portal.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APP_SERVICES = ["web", "worker", "beat"]
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with open(BASE_DIR / "docker-compose.yml") as f:
        loaded: dict[str, Any] = yaml.safe_load(f)
    return loaded


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def interpolate(value: str, variables: dict[str, str]) -> str:
    """What docker compose makes of a value, given the operator's variables."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in variables and (variables[name] or not (op or "").startswith(":")):
            return variables[name]
        if op and op.endswith("-"):
            return arg
        raise AssertionError(f"{name} is required by docker-compose.yml: {arg}")

    return INTERPOLATION.sub(replace, value)


def test_compose_defines_web_worker_beat_postgres_and_redis(compose):
    assert set(compose["services"]) >= {"web", "worker", "beat", "postgres", "redis"}
    assert (BASE_DIR / "Dockerfile").is_file()


def test_web_serves_the_wsgi_application_with_gunicorn_after_migrating(compose):
    command = " ".join(command_of(compose["services"]["web"]))
    assert "manage.py migrate" in command
    assert "manage.py collectstatic" in command
    assert re.search(r"\bgunicorn portal\.wsgi:application\b", command)
    assert command.index("migrate") < command.index("gunicorn")

    wsgi = importlib.import_module("portal.wsgi")
    assert isinstance(wsgi.application, WSGIHandler)


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_worker_and_beat_run_the_portal_celery_app(compose, service):
    command = command_of(compose["services"][service])
    assert command[:4] == ["celery", "-A", "portal", service]
    # `celery -A portal` finds the app the same way the containers will.
    assert find_app("portal") is celery_app


def test_celery_app_knows_every_accounts_task():
    import accounts.tasks

    assert isinstance(celery_app, Celery)
    celery_app.loader.import_default_modules()
    for name in ["send_welcome_email", "send_sms", "send_email", "clear_expired_sessions"]:
        task = getattr(accounts.tasks, name)
        assert task.name == f"accounts.tasks.{name}"
        assert task.name in celery_app.tasks
        assert task.app is celery_app


def test_every_beat_schedule_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE
    assert celery_app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in celery_app.tasks, f"beat entry {name!r} names an unknown task"


def test_app_containers_share_one_configuration_on_postgres_and_redis(compose):
    services = compose["services"]
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert environments[0] == environments[1] == environments[2]
    env = environments[0]
    assert env["DJANGO_DEBUG"] == "0"
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert set(depends) == {"postgres", "redis"}


def test_configuration_comes_only_from_environment_with_no_secret_committed(compose):
    for name, service in compose["services"].items():
        assert "env_file" not in service, f"{name} reads an env_file"
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment should be a mapping"
        for key, value in environment.items():
            value = str(value)
            if re.search(r"SECRET|PASSWORD|TOKEN|_SID$", key) and value:
                assert value.startswith("${"), f"{name}: {key} is a literal, not from the environment"
            userinfo = re.search(r"://[^:/@]+:([^@]+)@", value)
            if userinfo:
                assert userinfo.group(1).startswith("${"), f"{name}: {key} embeds a literal password"

    secret = compose["services"]["web"]["environment"]["DJANGO_SECRET_KEY"]
    assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]*\}", secret), "the secret key must be required"


def test_compose_environment_passes_check_deploy(compose):
    """What the operator provides, run through compose's interpolation, gives clean production settings."""
    variables = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "PORTAL_BASE_URL": "https://portal.example.com",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
    }
    env = {key: interpolate(str(value), variables) for key, value in compose["services"]["web"]["environment"].items()}
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PORTAL_")) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={**base, **env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_image_installs_the_font_invoice_pdfs_embed():
    """Without DejaVu Sans, billing/pdf.py falls back to Helvetica and simplifies non-Latin-1 names."""
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert re.search(r"apt-get install[^\n]*fonts-dejavu-core", dockerfile)
