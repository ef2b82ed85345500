"""Defining alarms: the rules, the messages, the audit trail; nothing half-stored."""

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from alarms import services
from alarms.models import Alarm, AlarmEvent, EventKind, Metric, State
from audit.models import AuditEvent
from tests.factories import UserFactory


def data(**changes: Any) -> services.AlarmInput:
    fields: dict[str, Any] = {
        "name": "Tokenize failing",
        "method": "Tokenize",
        "metric": Metric.ERROR_RATE,
        "window_minutes": 15,
        "threshold": "2.5",
        "recipient_ids": [],
        "enabled": True,
    }
    fields.update(changes)
    return services.AlarmInput(**fields)


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_an_admin_defines_an_alarm_that_emails_chosen_colleagues(organisation, owner, member):
    alarm = services.create_alarm(
        organisation=organisation, data=data(recipient_ids=[owner.pk, member.pk]), acting_user=owner
    )

    assert (alarm.name, alarm.method, alarm.metric) == ("Tokenize failing", "Tokenize", "error_rate")
    assert alarm.window_minutes == 15
    assert alarm.threshold == Decimal("2.50")
    assert set(alarm.recipients.all()) == {owner, member}
    assert (alarm.state, alarm.enabled, alarm.created_by) == (State.OK, True, owner)
    assert alarm.condition == "error rate of Tokenize ≥ 2.5% over 15 minutes"
    event = AuditEvent.objects.get(action="alarm.created")
    assert (event.actor, event.organisation, event.target_label) == (owner, organisation, "Tokenize failing")
    assert event.details == {
        "condition": "error rate of Tokenize ≥ 2.5% over 15 minutes",
        "recipients": ["member@acme.example", "owner@acme.example"],
    }


def test_all_methods_and_a_count_read_in_words(organisation, owner):
    alarm = services.create_alarm(
        organisation=organisation,
        data=data(method="  ", metric=Metric.ERROR_COUNT, threshold="50", window_minutes=1440),
        acting_user=owner,
    )

    assert alarm.method == ""
    assert alarm.condition == "failed calls of all methods ≥ 50 over 24 hours"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "Give the alarm a name"),
        ({"name": "x" * 101}, "name", "Keep the name to 100 characters (it has 101)."),
        ({"name": "Two\nlines"}, "name", "Keep the name to one line of plain text."),
        ({"method": "Token ize"}, "method", "A method name is 1 to 64 letters"),
        ({"method": "x" * 65}, "method", "A method name is 1 to 64 letters"),
        ({"metric": "latency"}, "metric", "Choose failed calls or error rate."),
        ({"window_minutes": 7}, "window_minutes", "Choose a window from 5 minutes to 24 hours."),
        ({"window_minutes": 2880}, "window_minutes", "Choose a window from 5 minutes to 24 hours."),
        ({"threshold": "five"}, "threshold", "Enter the threshold as a number, e.g. 5."),
        ({"threshold": "NaN"}, "threshold", "Enter the threshold as a number, e.g. 5."),
        ({"threshold": "Infinity"}, "threshold", "Enter the threshold as a number, e.g. 5."),
        ({"threshold": "0"}, "threshold", "An error rate is a percentage above 0 and at most 100"),
        ({"threshold": "100.01"}, "threshold", "An error rate is a percentage above 0 and at most 100"),
        ({"threshold": "2.555"}, "threshold", "with at most two decimals"),
        ({"metric": "error_count", "threshold": "2.5"}, "threshold", "a whole number from 1 to 1,000,000,000"),
        ({"metric": "error_count", "threshold": "0"}, "threshold", "a whole number from 1 to 1,000,000,000"),
        ({"metric": "error_count", "threshold": "1e10"}, "threshold", "a whole number from 1 to 1,000,000,000"),
    ],
)
def test_bad_input_is_refused_with_a_message_on_its_field_and_nothing_is_stored(
    organisation, owner, changes, field, message
):
    with pytest.raises(ValidationError) as refused:
        services.create_alarm(organisation=organisation, data=data(**changes), acting_user=owner)

    assert any(message in text for text in errors_of(refused)[field]), errors_of(refused)
    assert not Alarm.objects.exists()
    assert not AuditEvent.objects.filter(action="alarm.created").exists()


def test_every_problem_is_reported_at_once(organisation, owner):
    with pytest.raises(ValidationError) as refused:
        services.create_alarm(
            organisation=organisation, data=data(name="", method="a b", threshold="x"), acting_user=owner
        )

    assert set(errors_of(refused)) == {"name", "method", "threshold"}


def test_only_active_colleagues_can_be_emailed(organisation, owner, outsider):
    former = UserFactory.create(organisation=organisation, is_active=False)

    for stranger in (outsider, former):
        with pytest.raises(ValidationError) as refused:
            services.create_alarm(
                organisation=organisation, data=data(recipient_ids=[owner.pk, stranger.pk]), acting_user=owner
            )
        assert errors_of(refused) == {"recipients": ["Choose active users of your organisation."]}
    assert not Alarm.objects.exists()


def test_names_are_unique_in_an_organisation_whatever_the_case(organisation, owner, outsider):
    services.create_alarm(organisation=organisation, data=data(), acting_user=owner)
    assert outsider.organisation is not None
    services.create_alarm(organisation=outsider.organisation, data=data(), acting_user=outsider)  # another org: fine

    with pytest.raises(ValidationError) as refused:
        services.create_alarm(organisation=organisation, data=data(name="TOKENIZE FAILING"), acting_user=owner)

    assert errors_of(refused) == {"name": ["Your organisation already has an alarm named “TOKENIZE FAILING”."]}


def test_an_organisation_has_at_most_the_configured_number_of_alarms(organisation, owner, settings):
    settings.ALARMS_PER_ORGANISATION = 2
    for n in range(2):
        services.create_alarm(organisation=organisation, data=data(name=f"Alarm {n}"), acting_user=owner)

    with pytest.raises(ValidationError) as refused:
        services.create_alarm(organisation=organisation, data=data(name="One too many"), acting_user=owner)

    assert refused.value.messages == [
        "Acme Payments Ltd already has 2 alarms, the most allowed. Delete or change one instead."
    ]
    assert Alarm.objects.count() == 2


def test_only_the_organisations_admins_change_its_alarms(organisation, owner, member, outsider):
    alarm = services.create_alarm(organisation=organisation, data=data(), acting_user=owner)

    for person in (member, outsider):
        with pytest.raises(PermissionDenied):
            services.create_alarm(organisation=organisation, data=data(name="Other"), acting_user=person)
        with pytest.raises(PermissionDenied):
            services.update_alarm(alarm=alarm, data=data(name="Mine now"), acting_user=person)
        with pytest.raises(PermissionDenied):
            services.delete_alarm(alarm=alarm, acting_user=person)

    alarm.refresh_from_db()
    assert alarm.name == "Tokenize failing"
    assert Alarm.objects.count() == 1


def test_a_change_is_audited_with_the_fields_that_changed(organisation, owner, member):
    alarm = services.create_alarm(organisation=organisation, data=data(), acting_user=owner)

    services.update_alarm(alarm=alarm, data=data(threshold="10", recipient_ids=[member.pk]), acting_user=owner)
    services.update_alarm(alarm=alarm, data=data(threshold="10.00", recipient_ids=[member.pk]), acting_user=owner)

    [event] = AuditEvent.objects.filter(action="alarm.changed")
    assert event.details == {
        "fields": ["threshold", "recipients"],
        "condition": "error rate of Tokenize ≥ 10% over 15 minutes",
    }


def test_turning_a_firing_alarm_off_forgets_its_state(organisation, owner):
    alarm = services.create_alarm(organisation=organisation, data=data(), acting_user=owner)
    Alarm.objects.filter(pk=alarm.pk).update(state=State.FIRING, last_value=Decimal("9"))

    alarm = services.update_alarm(alarm=alarm, data=data(enabled=False), acting_user=owner)

    assert (alarm.enabled, alarm.state, alarm.last_value, alarm.state_since) == (False, State.OK, None, None)


def test_deleting_an_alarm_keeps_its_history(organisation, owner):
    from django.utils import timezone

    alarm = services.create_alarm(organisation=organisation, data=data(), acting_user=owner)
    AlarmEvent.objects.create(
        organisation=organisation,
        alarm=alarm,
        alarm_name=alarm.name,
        kind=EventKind.FIRED,
        at=timezone.now(),
        method=alarm.method,
        metric=alarm.metric,
        window_minutes=alarm.window_minutes,
        threshold=alarm.threshold,
        value=Decimal("3"),
        calls=100,
        errors=3,
    )

    services.delete_alarm(alarm=alarm, acting_user=owner)

    assert not Alarm.objects.exists()
    event = AlarmEvent.objects.get()
    assert (event.alarm, event.alarm_name) == (None, "Tokenize failing")
    assert event.condition == "error rate of Tokenize ≥ 2.5% over 15 minutes"
    assert AuditEvent.objects.get(action="alarm.deleted").target_label == "Tokenize failing"
    with pytest.raises(ValidationError, match="deleted a moment ago"):
        services.delete_alarm(alarm=alarm, acting_user=owner)
