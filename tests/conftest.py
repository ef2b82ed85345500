"""Shared fixtures. People are named by role: owner (org admin), member (same org), outsider."""

import importlib
import os
import time
from types import SimpleNamespace

import pytest
from celery.result import _set_task_join_will_block  # type: ignore[attr-defined]  # not in celery-types
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.http import HttpResponse
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.middleware import LAST_ACTIVITY_SESSION_KEY
from accounts.models import User
from accounts.roles import SUPPORT_GROUP, SUPPORT_GROUP_MIGRATION
from common import sms
from portal.celery import app as celery_app
from tests.factories import AdminFactory, OrganisationFactory, UserFactory
from tests.twilio_http import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, RecordingTwilioHttp

USING_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
USING_REDIS = bool(os.environ.get("REDIS_URL"))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        "database: " + ("PostgreSQL (DATABASE_URL)" if USING_POSTGRES else "SQLite (set DATABASE_URL for PostgreSQL)"),
        "redis: " + ("Redis (REDIS_URL)" if USING_REDIS else "none (set REDIS_URL to run the Redis tests)"),
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://…")
    for item in items:
        if "postgres" in item.keywords and not USING_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not USING_REDIS:
            item.add_marker(skip_redis)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = len(terminalreporter.stats.get("skipped", []))
    if skipped and not (USING_POSTGRES and USING_REDIS):
        terminalreporter.write_line(
            f"{skipped} test(s) skipped because PostgreSQL or Redis is not configured "
            "(set DATABASE_URL and REDIS_URL to run them).",
            yellow=True,
        )


@pytest.fixture(autouse=True)
def _private_files_in_a_temporary_folder(settings, tmp_path):
    """Stored customer files go to a per-test folder, never into the working tree."""
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private-files"), "base_url": None},
        },
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["tests.hashers.FastArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_celery_and_clean_cache():
    """Tasks run in-process unless a test starts a real worker; rate-limit counters start at zero."""
    # Celery looks up the Django-namespaced name before `task_always_eager`, so only this name
    # overrides CELERY_TASK_ALWAYS_EAGER from settings (False when REDIS_URL is set).
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
    # Eager tasks raise a process-wide "joining would block" flag while they run and put back the
    # value they found; tests that race threads through eager tasks can leave it raised, and a later
    # test's result.get() then fails with "Never call result.get() within a task!".
    _set_task_join_will_block(False)
    cache.clear()
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def twilio(settings, monkeypatch) -> RecordingTwilioHttp:
    """SMS go to Twilio's real client, whose HTTP requests this records and answers."""
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    http = RecordingTwilioHttp()
    monkeypatch.setattr(sms, "twilio_http_client", http)
    return http


@pytest.fixture
def organisation(db):
    return OrganisationFactory(name="Acme Payments Ltd")


@pytest.fixture
def owner(organisation) -> User:
    return AdminFactory.create(organisation=organisation, email="owner@acme.example", full_name="Olivia Owner")


@pytest.fixture
def member(organisation) -> User:
    return UserFactory.create(organisation=organisation, email="member@acme.example", full_name="Max Member")


@pytest.fixture
def outsider(db) -> User:
    return AdminFactory.create(
        organisation=OrganisationFactory(name="Globex Corp"),
        email="outsider@globex.example",
        full_name="Oscar Outsider",
    )


def make_support_group() -> None:
    """What the latest support-group migration (accounts.roles.SUPPORT_GROUP_MIGRATION) does, again:
    a transactional test's flush empties every table, and data migrations do not run after it."""
    migration = importlib.import_module(f"accounts.migrations.{SUPPORT_GROUP_MIGRATION}")
    historical = MigrationLoader(connection).project_state(("accounts", SUPPORT_GROUP_MIGRATION)).apps
    migration.create_support_group(historical, SimpleNamespace(connection=connection))
    # Apps that add to the group in their own migrations.
    alarms = importlib.import_module("alarms.migrations.0002_support_group")
    historical = MigrationLoader(connection).project_state(("alarms", "0002_support_group")).apps
    alarms.add_view_permissions(historical, SimpleNamespace(connection=connection))


@pytest.fixture
def support_staff(db) -> User:
    """Support staff as in production: no organisation, staff (not superuser), in the Support group."""
    if not Group.objects.filter(name=SUPPORT_GROUP).exists():
        make_support_group()
    user = UserFactory.create(organisation=None, is_staff=True, email="sam@support.example", full_name="Sam Support")
    user.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    return user


@pytest.fixture
def support(support_staff) -> User:
    """Support staff: works in the admin with the Support group's permissions only."""
    return support_staff


@pytest.fixture
def superuser(db) -> User:
    """The operator: a superuser, who also reaches the admin."""
    return UserFactory.create(
        organisation=None, is_staff=True, is_superuser=True, email="root@support.example", full_name="Rita Root"
    )


def page_text(response: HttpResponse) -> str:
    """The HTML of a test-client response."""
    return response.content.decode()


def log_in(client: Client, user: User) -> Client:
    """A session that passed password and second factor, as after a real login."""
    client.force_login(user, backend="accounts.backends.EmailBackend")
    session = client.session
    session[LAST_ACTIVITY_SESSION_KEY] = int(time.time())  # the login request was the last activity
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def support_client(support) -> Client:
    return log_in(Client(), support)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return log_in(Client(), superuser)


@pytest.fixture
def owner_client(client, owner) -> Client:
    return log_in(client, owner)


@pytest.fixture
def member_client(client, member) -> Client:
    return log_in(client, member)


@pytest.fixture
def outsider_client(client, outsider) -> Client:
    return log_in(client, outsider)


@pytest.fixture
def db_vendor() -> str:
    return connection.vendor
