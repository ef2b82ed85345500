"""Evaluating alarms: firing and recovering on the 5-minute counters, announced once by email and webhook."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alarms import services
from alarms.models import Alarm, AlarmEvent, DeliveryStatus, EventKind, Metric, State, WebhookDelivery
from alarms.tasks import delete_old_alarm_history, evaluate_alarms
from dashboard.models import ErrorLog
from tests.alarms.test_alarm_services import data
from tests.factories import OrganisationFactory, UserFactory
from tests.race import race

NOW = datetime(2026, 11, 26, 10, 7, 30, tzinfo=UTC)


@pytest.fixture
def count_alarm(organisation, owner, member) -> Alarm:
    """Fires at 5 failed Tokenize calls within 15 minutes; emails the owner and the member."""
    return services.create_alarm(
        organisation=organisation,
        data=data(
            name="Tokenize failing",
            metric=Metric.ERROR_COUNT,
            threshold="5",
            window_minutes=15,
            recipient_ids=[owner.pk, member.pk],
        ),
        acting_user=owner,
    )


def evaluate(now: datetime, capture) -> services.Evaluation:
    with capture(execute=True):
        return services.evaluate_alarms(now=now)


def test_an_alarm_fires_once_when_failed_calls_reach_the_threshold_and_emails_its_people(
    count_alarm, slots, owner, member, django_capture_on_commit_callbacks
):
    slots(NOW - timedelta(minutes=12), calls=40, errors=3)
    assert evaluate(NOW, django_capture_on_commit_callbacks) == services.Evaluation(evaluated=1)
    count_alarm.refresh_from_db()
    assert (count_alarm.state, count_alarm.last_value, count_alarm.last_evaluated_at) == (State.OK, Decimal(3), NOW)
    assert mail.outbox == []

    slots(NOW - timedelta(minutes=1), calls=10, errors=2)
    assert evaluate(NOW + timedelta(minutes=1), django_capture_on_commit_callbacks).fired == 1
    assert evaluate(NOW + timedelta(minutes=2), django_capture_on_commit_callbacks).fired == 0  # still firing: no news

    count_alarm.refresh_from_db()
    assert (count_alarm.state, count_alarm.state_since) == (State.FIRING, NOW + timedelta(minutes=1))
    event = AlarmEvent.objects.get()
    assert (event.kind, event.alarm, event.value, event.calls, event.errors) == (
        EventKind.FIRED,
        count_alarm,
        Decimal(5),
        50,
        5,
    )
    assert sorted(m.to[0] for m in mail.outbox) == [member.email, owner.email]
    message = mail.outbox[0]
    assert message.subject == "Alarm “Tokenize failing” fired: 5 (failed calls of Tokenize ≥ 5 over 15 minutes)"
    assert "It read 5: 5 failed of 50 calls from 09:50 to 10:10 UTC." in message.body
    assert f"{settings.PORTAL_BASE_URL}/alarms/history/" in message.body


def test_it_recovers_when_the_failures_leave_the_window(count_alarm, slots, django_capture_on_commit_callbacks):
    slots(NOW, calls=10, errors=6)
    evaluate(NOW, django_capture_on_commit_callbacks)
    mail.outbox.clear()

    # 20 minutes later the slot holding the failures is outside the 15-minute window.
    result = evaluate(NOW + timedelta(minutes=20), django_capture_on_commit_callbacks)

    assert result.recovered == 1
    assert [e.kind for e in AlarmEvent.objects.order_by("at")] == [EventKind.FIRED, EventKind.RECOVERED]
    count_alarm.refresh_from_db()
    assert (count_alarm.state, count_alarm.last_value) == (State.OK, Decimal(0))
    assert len(mail.outbox) == 2
    assert mail.outbox[0].subject.startswith("Alarm “Tokenize failing” recovered: 0 ")


def minute_by_minute(slots, capture, *, until_minute: int) -> list[tuple[str, str]]:
    """5 failed calls at 10:00, 5 more reported at 10:21 (in the 10:20 slot); the alarm evaluated every
    minute from 10:00:30. Its 15-minute window reads 5 until 10:20, 0 at 10:20:30, 5 again from 10:21:30
    to 10:40, then 0. Returns each announced change with the time it was announced."""
    start = datetime(2026, 11, 26, 10, 0, 30, tzinfo=UTC)
    slots(start, calls=10, errors=5)
    changes = []
    for minute in range(until_minute + 1):
        now = start + timedelta(minutes=minute)
        if minute == 21:
            slots(now - timedelta(minutes=1), calls=5, errors=5)
        result = evaluate(now, capture)
        if result.fired or result.recovered:
            changes.append(("fired" if result.fired else "recovered", now.strftime("%H:%M:%S")))
    return changes


def test_a_reading_that_dips_below_the_threshold_for_a_moment_does_not_flap(
    count_alarm, slots, settings, django_capture_on_commit_callbacks
):
    settings.ALARM_RECOVERY_MINUTES = 5

    changes = minute_by_minute(slots, django_capture_on_commit_callbacks, until_minute=46)

    # The dip at 10:20:30 lasted a minute: no recovery then. The last breach was read at 10:39:30,
    # so it recovers 5 minutes later, once.
    assert changes == [("fired", "10:00:30"), ("recovered", "10:44:30")]
    assert [e.kind for e in AlarmEvent.objects.order_by("at")] == [EventKind.FIRED, EventKind.RECOVERED]
    assert len(mail.outbox) == 2 * 2  # two people, two announcements


def test_with_no_calm_period_the_same_readings_flap(count_alarm, slots, settings, django_capture_on_commit_callbacks):
    settings.ALARM_RECOVERY_MINUTES = 0

    changes = minute_by_minute(slots, django_capture_on_commit_callbacks, until_minute=46)

    assert changes == [
        ("fired", "10:00:30"),
        ("recovered", "10:20:30"),
        ("fired", "10:21:30"),
        ("recovered", "10:40:30"),
    ]


def test_turning_an_alarm_off_forgets_its_last_breach(count_alarm, owner, slots, django_capture_on_commit_callbacks):
    slots(NOW, calls=10, errors=6)
    evaluate(NOW, django_capture_on_commit_callbacks)

    services.update_alarm(alarm=count_alarm, data=data(name="Tokenize failing", enabled=False), acting_user=owner)

    count_alarm.refresh_from_db()
    assert (count_alarm.state, count_alarm.last_breach_at) == (State.OK, None)


def test_the_window_is_read_in_whole_five_minute_slots_overlapping_it(
    count_alarm, slots, django_capture_on_commit_callbacks
):
    at = datetime(2026, 11, 26, 10, 10, tzinfo=UTC)
    slots(at - timedelta(minutes=20), calls=100, errors=100)  # 09:50-09:55: before the window
    slots(at - timedelta(minutes=15), calls=4, errors=4)  # 09:55-10:00: overlaps 09:55:00.000001 onwards
    slots(at, calls=1, errors=1)  # 10:10, the slot under way
    slots(at + timedelta(minutes=5), calls=100, errors=100)  # the future (reported early): not read

    evaluate(at, django_capture_on_commit_callbacks)

    count_alarm.refresh_from_db()
    assert (count_alarm.last_value, count_alarm.state) == (Decimal(5), State.FIRING)


def test_only_the_alarms_method_and_organisation_count(
    count_alarm, slots, outsider, django_capture_on_commit_callbacks
):
    slots(NOW, calls=50, errors=50, method="Detokenize")
    slots(NOW, calls=50, errors=50, org=outsider.organisation)
    slots(NOW, calls=50, errors=4)

    evaluate(NOW, django_capture_on_commit_callbacks)

    count_alarm.refresh_from_db()
    assert (count_alarm.last_value, count_alarm.state) == (Decimal(4), State.OK)


def test_a_rate_alarm_on_all_methods_divides_failed_calls_by_all_calls(
    organisation, owner, slots, django_capture_on_commit_callbacks
):
    alarm = services.create_alarm(
        organisation=organisation, data=data(name="Everything", method="", threshold="7.5"), acting_user=owner
    )
    evaluate(NOW, django_capture_on_commit_callbacks)  # no calls at all: 0%, not a division by zero
    alarm.refresh_from_db()
    assert (alarm.last_value, alarm.state) == (Decimal(0), State.OK)

    slots(NOW - timedelta(minutes=3), calls=150, errors=10, method="Tokenize")
    slots(NOW - timedelta(minutes=3), calls=50, errors=5, method="Detokenize")
    evaluate(NOW + timedelta(minutes=1), django_capture_on_commit_callbacks)

    alarm.refresh_from_db()
    assert (alarm.last_value, alarm.state) == (Decimal("7.50"), State.FIRING)
    assert AlarmEvent.objects.get().shown_value == "7.5%"


def test_disabled_alarms_are_not_evaluated(count_alarm, owner, slots, django_capture_on_commit_callbacks):
    services.update_alarm(alarm=count_alarm, data=data(name="Tokenize failing", enabled=False), acting_user=owner)
    slots(NOW, calls=10, errors=10)

    assert evaluate(NOW, django_capture_on_commit_callbacks) == services.Evaluation()
    assert not AlarmEvent.objects.exists()


def test_people_who_left_are_not_emailed(count_alarm, member, owner, slots, django_capture_on_commit_callbacks):
    member.is_active = False
    member.save()
    slots(NOW, calls=10, errors=10)

    evaluate(NOW, django_capture_on_commit_callbacks)

    assert [m.to for m in mail.outbox] == [[owner.email]]


def test_a_change_is_posted_to_the_organisations_webhook(
    count_alarm, endpoint, receiver, slots, django_capture_on_commit_callbacks
):
    slots(NOW, calls=10, errors=7)

    evaluate(NOW, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.status, delivery.attempts, delivery.response_code) == (
        "alarm.fired",
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )
    [request] = receiver.received
    assert request.verified
    assert request.headers["Portal-Event-Type"] == "alarm.fired"
    assert request.event == {
        "id": delivery.event_id,
        "type": "alarm.fired",
        "created_at": "2026-11-26T10:07:30Z",
        "organisation": count_alarm.organisation.public_id,
        "data": {
            "alarm": {
                "id": count_alarm.pk,
                "name": "Tokenize failing",
                "method": "Tokenize",
                "metric": "error_count",
                "window_minutes": 15,
                "threshold": "5.00",
                "condition": "failed calls of Tokenize ≥ 5 over 15 minutes",
            },
            "state": "firing",
            "reading": {
                "value": "7",
                "calls": 10,
                "errors": 7,
                "from": "2026-11-26T09:50:00Z",
                "to": "2026-11-26T10:10:00Z",
            },
            "history_url": f"{settings.PORTAL_BASE_URL}/alarms/history/",
        },
    }


def test_without_a_webhook_only_emails_go(count_alarm, slots, django_capture_on_commit_callbacks):
    slots(NOW, calls=10, errors=7)

    evaluate(NOW, django_capture_on_commit_callbacks)

    assert not WebhookDelivery.objects.exists()
    assert len(mail.outbox) == 2


def test_evaluation_reads_counters_only_so_its_cost_does_not_grow_with_the_error_log(
    count_alarm, organisation, slots, django_capture_on_commit_callbacks
):
    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            evaluate(NOW, django_capture_on_commit_callbacks)
        return [q["sql"] for q in captured.captured_queries]

    few = queries()
    ErrorLog.objects.bulk_create(
        ErrorLog(
            organisation=organisation,
            at=NOW - timedelta(seconds=n),
            method="Tokenize",
            code="E",
            request_id=f"r{n}",
            source_ip="203.0.113.9",
        )
        for n in range(2000)
    )
    many = queries()

    assert len(few) == len(many) <= 6
    assert not [sql for sql in many if "dashboard_errorlog" in sql]


def test_the_periodic_task_evaluates_and_is_scheduled(count_alarm, slots):
    slots(datetime.now(UTC), calls=10, errors=9)

    result = evaluate_alarms.delay().get()

    assert result == {"evaluated": 1, "fired": 1, "recovered": 0, "resent": 0}
    entry = settings.CELERY_BEAT_SCHEDULE["evaluate-alarms"]
    assert entry == {"task": "alarms.tasks.evaluate_alarms", "schedule": settings.ALARM_EVALUATION_SECONDS}
    assert settings.CELERY_BEAT_SCHEDULE["delete-old-alarm-history"]["task"] == "alarms.tasks.delete_old_alarm_history"


def test_history_and_deliveries_older_than_the_retention_are_deleted(count_alarm, organisation, settings):
    settings.ALARM_HISTORY_RETENTION_DAYS = 30
    now = datetime.now(UTC)
    for age in (31, 29):
        event = AlarmEvent.objects.create(
            organisation=organisation,
            alarm=count_alarm,
            alarm_name="Tokenize failing",
            kind=EventKind.FIRED,
            at=now - timedelta(days=age),
            method="Tokenize",
            metric=Metric.ERROR_COUNT,
            window_minutes=15,
            threshold=Decimal(5),
            value=Decimal(5),
            calls=5,
            errors=5,
        )
        WebhookDelivery.objects.create(
            organisation=organisation,
            event_id=f"evt_{age}",
            event_type="alarm.fired",
            alarm_event=event,
            body="{}",
            created_at=now - timedelta(days=age),
        )

    assert delete_old_alarm_history.delay().get() == 2
    assert list(AlarmEvent.objects.values_list("at", flat=True)) == [now - timedelta(days=29)]
    assert list(WebhookDelivery.objects.values_list("event_id", flat=True)) == ["evt_29"]
    assert delete_old_alarm_history.delay().get() == 0


@pytest.mark.postgres
def test_two_evaluations_at_once_announce_a_change_once(transactional_db):
    organisation = OrganisationFactory.create()
    admin = UserFactory.create(organisation=organisation, role="admin", email="racer@acme.example")
    alarm = services.create_alarm(
        organisation=organisation,
        data=data(metric=Metric.ERROR_COUNT, threshold="1", recipient_ids=[admin.pk]),
        acting_user=admin,
    )
    from dashboard.models import FiveMinuteMethodCount, bucket_start

    FiveMinuteMethodCount.objects.create(
        organisation=organisation, method="Tokenize", start=bucket_start(NOW), calls=5, errors=5
    )

    results, errors = race([partial(services.evaluate_alarms, now=NOW) for _ in range(6)])

    assert not errors, errors
    assert sum(r.fired for r in results) == 1
    assert AlarmEvent.objects.filter(alarm=alarm).count() == 1
    assert len(mail.outbox) == 1


def test_alarm_emails_are_multipart_and_escape_the_alarms_name(
    organisation, owner, slots, django_capture_on_commit_callbacks
):
    from tests.portal.test_emails import assert_well_formed, html_of

    services.create_alarm(
        organisation=organisation,
        data=data(
            name="<script>alert('x')</script>", metric=Metric.ERROR_COUNT, threshold="1", recipient_ids=[owner.pk]
        ),
        acting_user=owner,
    )
    slots(NOW, calls=3, errors=2)

    evaluate(NOW, django_capture_on_commit_callbacks)

    (message,) = mail.outbox
    assert_well_formed(message)
    assert "<script>" not in html_of(message)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html_of(message)


def test_one_failing_alarm_does_not_silence_the_others(
    organisation, owner, count_alarm, slots, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    other = services.create_alarm(
        organisation=organisation, data=data(name="Everything", method="", threshold="1"), acting_user=owner
    )
    real_read = services.read

    def read(alarm, *, now):
        if alarm.pk == count_alarm.pk:
            raise RuntimeError("the database went away")
        return real_read(alarm, now=now)

    monkeypatch.setattr(services, "read", read)
    slots(NOW, calls=10, errors=10)

    result = evaluate(NOW, django_capture_on_commit_callbacks)

    assert (result.evaluated, result.fired) == (1, 1)
    assert AlarmEvent.objects.get().alarm == other
    assert f"Evaluating alarm {count_alarm.pk} failed" in caplog.text


def test_the_alarm_page_says_when_an_alarm_recovers(member_client, settings):
    settings.ALARM_RECOVERY_MINUTES = 5
    assert "it recovers once they have stayed below it for 5 minutes." in member_client.get("/alarms/").text
