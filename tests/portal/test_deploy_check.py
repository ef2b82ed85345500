"""Production settings and security headers (SPEC §1 "production shape", §8).

Settings are computed from the environment when they are imported, so the production values are
checked in a fresh Python process with a production environment, not with override_settings.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from accounts.models import Role, User
from accounts.services import add_user
from tests.production_env import PRODUCTION_REQUIRED_ENV

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PRODUCTION_ENV = {
    **PRODUCTION_REQUIRED_ENV,
    "DJANGO_ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_ENVIRONMENT": "production",
}
PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({name: getattr(settings, name) for name in [
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT", "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "PORTAL_ENVIRONMENT",
]}))
"""


def secret_key() -> str:
    return secrets.token_urlsafe(48)  # 64 characters


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the project's Python with a clean deployment environment (plus DATABASE_URL/REDIS_URL if set)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    base["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_of(env: dict[str, str]) -> dict[str, object]:
    result = run_python(["-c", PRINT_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    settings: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return settings


def test_check_deploy_is_clean_with_production_environment():
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key()},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure_and_hsts_lasts_a_year():
    settings = settings_of({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key()})
    assert settings["DEBUG"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["CSRF_COOKIE_SECURE"] is True
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert isinstance(settings["SECURE_HSTS_SECONDS"], int)
    assert settings["SECURE_HSTS_SECONDS"] >= 365 * 24 * 60 * 60
    assert str(settings["SESSION_COOKIE_NAME"]).startswith("__Host-portal-production-")
    assert str(settings["CSRF_COOKIE_NAME"]).startswith("__Host-portal-production-")


def test_test_deployment_uses_other_cookie_names_than_production():
    production = settings_of({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key()})
    test = settings_of({**PRODUCTION_ENV, "PORTAL_ENVIRONMENT": "test", "DJANGO_SECRET_KEY": secret_key()})
    assert test["PORTAL_ENVIRONMENT"] == "test"
    assert str(test["SESSION_COOKIE_NAME"]).startswith("__Host-portal-test-")
    assert test["SESSION_COOKIE_NAME"] != production["SESSION_COOKIE_NAME"]
    assert test["CSRF_COOKIE_NAME"] != production["CSRF_COOKIE_NAME"]


def test_production_refuses_to_start_without_secret_key():
    result = run_python(["-c", "import django; django.setup()"], PRODUCTION_ENV)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("missing", ["DEFAULT_FROM_EMAIL", "SUPPORT_EMAIL", "REDIS_URL", "VAULT_DATABASE_URL"])
def test_production_refuses_to_start_without_a_required_setting_naming_it(missing):
    """An empty sender or support address used to start fine and silently drop support mail."""
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key(), missing: ""}
    result = run_python(["-c", "import django; django.setup()"], env)
    assert result.returncode != 0
    assert f"DJANGO_DEBUG=0 needs these environment variables: {missing} " in result.stderr


def test_production_names_every_missing_setting_at_once():
    required = ["DJANGO_ALLOWED_HOSTS", "PORTAL_BASE_URL", "DATABASE_URL", "VAULT_DATABASE_URL", "REDIS_URL"]
    required += ["DEFAULT_FROM_EMAIL", "SUPPORT_EMAIL"]
    env = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secret_key(), **dict.fromkeys(required, "")}
    result = run_python(["-c", "import django; django.setup()"], env)
    assert result.returncode != 0
    assert f"DJANGO_DEBUG=0 needs these environment variables: {', '.join(required)} " in result.stderr


def test_production_refuses_sqlite():
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key(), "DATABASE_URL": "sqlite:///db.sqlite3"}
    result = run_python(["-c", "import django; django.setup()"], env)
    assert result.returncode != 0
    assert "DJANGO_DEBUG=0 needs a PostgreSQL DATABASE_URL, not SQLite." in result.stderr


def test_unknown_environment_name_refuses_to_start():
    result = run_python(
        ["-c", "import django; django.setup()"],
        {**PRODUCTION_ENV, "PORTAL_ENVIRONMENT": "staging", "DJANGO_SECRET_KEY": secret_key()},
    )
    assert result.returncode != 0
    assert "PORTAL_ENVIRONMENT must be 'test' or 'production'" in result.stderr


ANONYMOUS_PAGES = ["/login/", "/password/reset/", "/password/reset/sent/"]
OWNER_PAGES = ["/", "/profile/", "/users/", "/users/add/", "/users/{member_id}/"]


def assert_security_headers(response) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "same-origin"


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_public_page_sends_security_headers(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.parametrize("path", OWNER_PAGES)
def test_portal_page_sends_security_headers(owner_client, member, path):
    response = owner_client.get(path.format(member_id=member.pk))
    assert response.status_code == 200
    assert_security_headers(response)


def test_test_environment_banner_shows_on_login_page(client, db):
    response = client.get("/login/")
    page = response.content.decode()
    assert "TEST environment" in page
    assert "Test environment" in page


@override_settings(PORTAL_ENVIRONMENT="production")
def test_production_login_page_has_no_test_banner(client, db):
    page = client.get("/login/").content.decode()
    assert "TEST environment" not in page
    assert "Production environment" in page


def test_passwords_are_stored_with_argon2(client, organisation, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = add_user(
            organisation=organisation,
            email="nina@acme.example",
            full_name="Nina New",
            role=Role.USER,
            acting_user=None,
        )
    user.refresh_from_db()
    assert user.temporary_password.startswith("argon2$")
    found = re.search(r"Temporary password: (\S+)", mailoutbox[0].body)
    assert found

    response = client.post("/login/", {"username": "nina@acme.example", "password": found.group(1)})
    assert response.status_code == 302
    new_password = "quartz-meadow-lantern-19"
    response = client.post("/setup/password/", {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    assert response["Location"] == "/setup/authenticator/"

    user = User.objects.get(pk=user.pk)
    assert user.password.startswith("argon2$")
    assert user.check_password(new_password)
