"""ScheduleForm at /extracts/schedule/, posted by the organisation's admin."""

from datetime import timedelta

from django import forms
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st

from extracts.models import ExtractSchedule, Frequency
from tests.fuzz.checks import assert_refused, counts, sent
from tests.fuzz.strategies import DATE_LIKE, FUZZ, submissions

FREQUENCIES = [f.value for f in Frequency]


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, str]:
    """What the form's radio buttons and datetime-local input send: empty, or a time within the next year."""
    soon = timezone.localtime().replace(tzinfo=None) + timedelta(hours=1)  # the form reads the portal's time zone
    first = draw(st.none() | st.datetimes(min_value=soon, max_value=soon + timedelta(days=364)))
    return {
        "frequency": draw(st.sampled_from(FREQUENCIES)),
        "first_run_at": "" if first is None else first.strftime("%Y-%m-%dT%H:%M"),
    }


def snapshot(organisation) -> tuple | None:
    return (
        ExtractSchedule.objects.filter(organisation=organisation)
        .values_list("frequency", "first_run_at", "next_run_at", "active")
        .first()
    )


@FUZZ
@given(submission=submissions(schedules(), tricky=DATE_LIKE))
def test_schedule_is_saved_as_chosen_or_left_as_it_was(organisation, owner, owner_client, submission):
    before = snapshot(organisation)
    rows = counts(ExtractSchedule)

    response = submission.post(owner_client, "/extracts/schedule/")

    saved = response.status_code == 302
    event("scheduled" if saved else "refused")
    if saved:
        assert response.url == "/extracts/"
        assert counts(ExtractSchedule)["extracts.ExtractSchedule"] in (1, rows["extracts.ExtractSchedule"])
        frequency, first_run_at, next_run_at, active = snapshot(organisation)
        assert (frequency, active) == (sent(response, "frequency"), True)
        typed = sent(response, "first_run_at").strip()
        if typed:
            assert first_run_at == next_run_at == forms.DateTimeField().clean(typed)
        else:
            assert abs(first_run_at - timezone.now()) < timedelta(minutes=1)  # "within 15 minutes": now
    else:
        assert not submission.pristine, "a schedule a user can pick was refused"
        assert_refused(response)
        assert snapshot(organisation) == before
        assert counts(ExtractSchedule) == rows


def test_a_first_run_past_year_9999_in_utc_is_refused(organisation, owner_client):
    response = owner_client.post(
        "/extracts/schedule/", {"frequency": "daily", "first_run_at": "9999-12-31T23:59-05:00"}
    )

    assert response.status_code == 400
    assert_refused(response)
    assert snapshot(organisation) is None
    assert owner_client.get("/extracts/").status_code == 200


def test_a_first_run_more_than_a_year_ahead_is_refused(organisation, owner_client):
    later = (timezone.localtime() + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M")

    response = owner_client.post("/extracts/schedule/", {"frequency": "weekly", "first_run_at": later})

    assert response.status_code == 400
    assert "Choose a time within the next year." in response.content.decode()
    assert snapshot(organisation) is None
