"""ScheduleForm at /extracts/schedule/ and ExtractKeyForm at /extracts/key/, posted by the organisation's admin."""

from datetime import timedelta

from django import forms
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st
from pyrage import x25519

from extracts.models import ExtractKey, ExtractSchedule, Frequency
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


# Public keys a careful admin pastes (fixed, so hypothesis can replay an example).
KEYS = [str(x25519.Identity.generate().to_public()) for _ in range(3)]
_SECRET = str(x25519.Identity.generate())
KEY_LIKE = st.sampled_from(
    [
        _SECRET,
        _SECRET.lower(),
        f"# public key: {KEYS[0]}\n{_SECRET}",
        KEYS[0][:-1] + ("p" if KEYS[0][-1] != "p" else "q"),  # a bad checksum
        KEYS[0].upper(),
        KEYS[0][:40],
        f"{KEYS[0]}\n{KEYS[1]}",
        f"  {KEYS[1]}  \n",
        f"# created: 2026-12-03\n{KEYS[2]}",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2 me@laptop",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "age1pq1" + "q" * 60,
        "age1" + "\x00" * 58,
    ]
)


def current_key(organisation) -> str | None:
    return ExtractKey.objects.filter(organisation=organisation).values_list("recipient", flat=True).first()


@FUZZ
@given(submission=submissions(st.fixed_dictionaries({"recipient": st.sampled_from(KEYS)}), tricky=KEY_LIKE))
def test_extract_key_is_saved_as_pasted_or_left_as_it_was(organisation, owner, owner_client, submission):
    before = current_key(organisation)

    response = submission.post(owner_client, "/extracts/key/")

    saved = response.status_code == 302
    event("saved" if saved else "refused")
    pasted = sent(response, "recipient")
    if saved:
        assert response.url == "/extracts/key/"
        lines = [line.strip() for line in pasted.splitlines() if line.strip() and not line.strip().startswith("#")]
        assert current_key(organisation) == str(x25519.Recipient.from_str(lines[0])) != before
    else:
        assert not submission.pristine or pasted.strip() == before, "a key an admin can paste was refused"
        assert_refused(response)
        assert current_key(organisation) == before
    assert _SECRET.lower() not in response.content.decode().lower()
