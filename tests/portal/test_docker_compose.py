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
# Every environment variable portal/settings.py reads.
SETTINGS_READ = set(
    re.findall(
        r"(?:os\.environ\.get|env_bool|env_int|env_list)\(\s*\"([A-Z0-9_]+)\"",
        (BASE_DIR / "portal" / "settings.py").read_text(),
    )
)
# Read by the settings but not for production: the in-process Celery of `make run`, the file
# e-mail backend of development.
NOT_FOR_PRODUCTION = {"CELERY_TASK_ALWAYS_EAGER", "EMAIL_FILE_PATH"}
# What an operator must provide to start docker-compose.yml.
OPERATOR_VARIABLES = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
    "DJANGO_ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_BASE_URL": "https://portal.example.com",
    "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
    "VAULT_DATABASE_URL": "postgres://reader@vault.example.com:5432/vault",
    "DEFAULT_FROM_EMAIL": "API Platform Portal <portal@example.com>",
    "SUPPORT_EMAIL": "support@example.com",
}


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


def compose_environment(compose: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    """The web container's environment: values interpolated, pass-through names only when set."""
    env = {}
    for key, value in compose["services"]["web"]["environment"].items():
        if value is None:
            if key in variables:
                env[key] = variables[key]
        else:
            env[key] = interpolate(str(value), variables)
    return env


def test_compose_defines_web_worker_beat_postgres_and_redis(compose):
    assert set(compose["services"]) >= {"web", "worker", "beat", "postgres", "redis"}
    assert (BASE_DIR / "Dockerfile").is_file()


def test_web_serves_the_wsgi_application_with_gunicorn(compose):
    command = " ".join(command_of(compose["services"]["web"]))
    assert re.search(r"\bgunicorn portal\.wsgi:application\b", command)
    # Not in every web container: migrations in the one-shot service, static files in the image.
    assert "migrate" not in command
    assert "collectstatic" not in command

    wsgi = importlib.import_module("portal.wsgi")
    assert isinstance(wsgi.application, WSGIHandler)


def test_migrations_run_once_in_a_one_shot_service_the_others_wait_for(compose):
    services = compose["services"]
    assert command_of(services["migrate"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_static_files_are_collected_into_the_image_with_production_settings():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    collect = re.search(r"^RUN (.*manage\.py collectstatic.*)$", dockerfile.replace("\\\n", " "), re.MULTILINE)
    assert collect, "the Dockerfile does not collect static files"
    assert "DJANGO_DEBUG=0" in collect.group(1)
    assert dockerfile.index("collectstatic") < dockerfile.index("\nUSER ")
    assert "ENV DJANGO_SECRET_KEY" not in dockerfile, "the build-time placeholder key must not stay in the image"


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
    environments = [services[name]["environment"] for name in ["migrate", *APP_SERVICES]]
    assert all(environment == environments[0] for environment in environments)
    env = environments[0]
    assert env["DJANGO_DEBUG"] == "0"
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert set(depends) == {"migrate", "postgres", "redis"}
        assert depends["postgres"] == depends["redis"] == {"condition": "service_healthy"}


def test_configuration_comes_only_from_environment_with_no_secret_committed(compose):
    for name, service in compose["services"].items():
        assert "env_file" not in service, f"{name} reads an env_file"
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment should be a mapping"
        for key, value in environment.items():
            if value is None:  # passed through from the operator's environment when set there
                continue
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
    variables = {**OPERATOR_VARIABLES, "EMAIL_HOST": "smtp.example.com"}
    env = compose_environment(compose, variables)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_")) and k not in SETTINGS_READ}
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


def test_every_setting_the_portal_reads_is_passed_to_its_containers(compose):
    """A setting missing here cannot be set in production at all (SENTRY_DSN, S3, SMS, email…)."""
    assert len(SETTINGS_READ) > 40, "the pattern no longer finds the settings' environment reads"
    env = compose["services"]["web"]["environment"]
    missing = sorted(SETTINGS_READ - NOT_FOR_PRODUCTION - set(env))
    assert not missing, f"add to x-portal's environment in docker-compose.yml: {missing}"
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SENTRY_DSN", "DJANGO_TRUSTED_PROXY_COUNT"]:
        assert name in env


@pytest.mark.parametrize("required", sorted(OPERATOR_VARIABLES))
def test_compose_refuses_to_start_without_a_required_variable(compose, required):
    variables = {name: value for name, value in OPERATOR_VARIABLES.items() if name != required}
    with pytest.raises(AssertionError, match=f"{required} is required by docker-compose.yml"):
        compose_environment(compose, variables)


def test_optional_settings_are_unset_unless_the_operator_sets_them(compose):
    """Passing `NAME: ""` would replace the portal's own default with an empty string."""
    env = compose_environment(compose, OPERATOR_VARIABLES)
    assert "OTP_TOTP_ISSUER" not in env
    assert "BILLING_ISSUER_LINES" not in env
    issuer = "Example Ltd|1 Road|Town"
    assert (
        compose_environment(compose, {**OPERATOR_VARIABLES, "BILLING_ISSUER_LINES": issuer})["BILLING_ISSUER_LINES"]
        == issuer
    )


def test_private_files_and_beat_schedule_live_on_writable_named_volumes(compose):
    services = compose["services"]
    root = services["web"]["environment"]["PRIVATE_FILES_ROOT"]
    for name in ["web", "worker"]:  # one volume: the worker writes extracts that web serves
        assert f"private-files:{root}" in services[name]["volumes"]
    schedule = command_of(services["beat"])[command_of(services["beat"]).index("--schedule") + 1]
    assert f"beat-schedule:{os.path.dirname(schedule)}" in services["beat"]["volumes"]
    assert {"private-files", "beat-schedule"} <= set(compose["volumes"])
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    # A fresh named volume takes the owner of the image's folder: the portal's user.
    assert re.search(r"mkdir -p /var/lib/portal/private-files /var/lib/portal/beat", dockerfile)
    assert re.search(r"chown -R portal:portal /var/lib/portal", dockerfile)
    assert re.search(r"^USER portal$", dockerfile, re.MULTILINE)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_web_worker_and_beat_have_healthchecks(compose, service):
    test = compose["services"][service]["healthcheck"]["test"]
    command = " ".join(test[1:])
    expected = {
        "web": "python portal/healthcheck.py web",
        "worker": "celery -A portal inspect ping --destination celery@$$(hostname)",
        "beat": "python portal/healthcheck.py beat " + command_of(compose["services"]["beat"])[-1],
    }[service]
    assert command.startswith(expected)


def test_images_are_pinned():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$", dockerfile, re.MULTILINE)
    with open(BASE_DIR / "docker-compose.yml") as f:
        services = yaml.safe_load(f)["services"]
    assert re.fullmatch(r"postgres:16\.\d+-bookworm(@sha256:[0-9a-f]{64})?", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7\.\d+\.\d+-bookworm(@sha256:[0-9a-f]{64})?", services["redis"]["image"])


def test_the_image_installs_only_hash_checked_locked_packages():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^\n]*", dockerfile)
    assert installs == ["pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock"]


def test_dockerignore_keeps_tests_data_and_local_state_out_of_the_image():
    ignored = set((BASE_DIR / ".dockerignore").read_text().split())
    expected = {".git", ".venv", "tests", "tests_container", "bench", "*.sqlite3", "private-files", "staticfiles"}
    assert expected <= ignored
