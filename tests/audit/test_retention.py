"""Audit events are kept AUDIT_RETENTION_DAYS (at least 13 months), then deleted by one task only."""

import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit import services
from audit.models import AuditEvent
from audit.services import record
from audit.tasks import delete_old_audit_events

DAY = timedelta(days=1)


def _event(organisation, age: timedelta, target: str) -> AuditEvent:
    event = record(action="login", actor=None, organisation=organisation, target=target)
    AuditEvent.objects.filter(pk=event.pk).update(at=timezone.now() - age)
    return event


def _targets() -> list[str]:
    return sorted(AuditEvent.objects.exclude(action="audit.retention").values_list("target_label", flat=True))


def test_task_deletes_only_events_past_the_retention_period(owner, outsider, caplog):
    assert settings.AUDIT_RETENTION_DAYS == 400
    _event(owner.organisation, 400 * DAY + timedelta(minutes=1), "acme-old")
    _event(owner.organisation, 399 * DAY, "acme-kept")
    _event(outsider.organisation, 800 * DAY, "globex-old")
    _event(outsider.organisation, DAY, "globex-kept")
    _event(None, 500 * DAY, "support-old")

    with caplog.at_level(logging.INFO, logger="audit.services"):
        assert delete_old_audit_events.delay().get() == 3

    assert _targets() == ["acme-kept", "globex-kept"]
    assert "Audit retention: deleted 3 event(s) older than 400 days" in caplog.text
    (note,) = AuditEvent.objects.filter(action="audit.retention")
    assert (note.actor_label, note.organisation, note.details["deleted"]) == ("system", None, 3)
    assert note.target_label.startswith("3 events before ")


def test_running_it_again_deletes_nothing_more_and_records_nothing(owner):
    _event(owner.organisation, 401 * DAY, "old")

    assert delete_old_audit_events.delay().get() == 1
    assert delete_old_audit_events.delay().get() == 0
    assert AuditEvent.objects.filter(action="audit.retention").count() == 1


def test_retention_follows_the_setting(owner, settings):
    settings.AUDIT_RETENTION_DAYS = 500
    _event(owner.organisation, 501 * DAY, "old")
    _event(owner.organisation, 450 * DAY, "kept")

    assert services.delete_old_audit_events() == 1
    assert _targets() == ["kept"]


def test_large_backlogs_are_deleted_in_chunks(owner, monkeypatch):
    monkeypatch.setattr(services, "RETENTION_CHUNK", 10)
    for n in range(25):
        _event(owner.organisation, 410 * DAY + n * timedelta(minutes=1), f"old-{n}")
    _event(owner.organisation, DAY, "kept")

    assert services.delete_old_audit_events() == 25
    assert _targets() == ["kept"]


def test_the_task_refuses_less_than_13_months(owner, settings):
    settings.AUDIT_RETENTION_DAYS = 90
    _event(owner.organisation, 100 * DAY, "kept")

    with pytest.raises(ImproperlyConfigured, match="at least 395"):
        services.delete_old_audit_events()
    assert _targets() == ["kept"]


@pytest.mark.parametrize(("value", "starts"), [("394", False), ("395", True)])
def test_settings_refuse_to_start_with_less_than_13_months(value, starts):
    env = {**os.environ, "AUDIT_RETENTION_DAYS": value, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )

    assert (result.returncode == 0) is starts
    if not starts:
        assert "AUDIT_RETENTION_DAYS must be at least 395 (13 months); it is 394." in result.stderr


@pytest.mark.postgres
def test_any_other_delete_of_audit_events_is_refused_by_the_database(owner):
    _event(owner.organisation, 500 * DAY, "old")
    _event(owner.organisation, DAY, "recent")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(target_label="recent").delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()

    assert _targets() == ["old", "recent"]
    assert services.delete_old_audit_events() == 1  # the retention path still works after a refusal


def test_deleting_an_organisation_or_a_user_keeps_their_events(owner, member):
    record(action="user.deactivated", actor=owner, subject_user=member, target=member.email)
    organisation = owner.organisation

    member.delete()
    owner.delete()
    organisation.delete()

    (event,) = AuditEvent.objects.filter(action="user.deactivated")
    assert (event.actor_label, event.target_label) == ("owner@acme.example", "member@acme.example")


def test_beat_schedule_names_the_task():
    entry = settings.CELERY_BEAT_SCHEDULE["delete-old-audit-events"]
    assert entry["task"] == delete_old_audit_events.name
    assert entry["schedule"] <= 24 * 60 * 60
