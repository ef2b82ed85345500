"""AuditFilterForm at /audit/ and /audit/export.csv (the organisation's admin), from the query string."""

import csv
import io
import string
from datetime import UTC, date, datetime

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from audit.models import AuditEvent
from audit.services import record
from tests.fuzz.checks import assert_filter_page, counts
from tests.fuzz.strategies import DATE_LIKE, FUZZ, iso_dates, raw_query_strings, submissions

ACTIONS = ["login.second_factor", "token.enrolled", "whitelist.added"]
TARGET_CHARS = string.ascii_letters + string.digits + " #()-@.%_/"


@pytest.fixture
def trail(owner, member) -> list[AuditEvent]:
    """A few events of the organisation, on days far apart."""
    events = []
    for day, action, actor, subject, target in [
        (datetime(2020, 1, 1, 9, tzinfo=UTC), ACTIONS[0], owner, None, ""),
        (datetime(2024, 6, 30, 23, 59, tzinfo=UTC), ACTIONS[1], member, member, "Hardware token #3 (HW-1)"),
        (datetime.now(UTC), ACTIONS[2], owner, None, "198.51.100.0/24 100%_off"),
    ]:
        event_ = record(action=action, actor=actor, subject_user=subject, target=target)
        AuditEvent.objects.filter(pk=event_.pk).update(at=day)
        events.append(event_)
    return events


@st.composite
def audit_filters(draw: st.DrawFn) -> dict[str, str]:
    optional = {
        "actor": st.sampled_from(["", "{owner}", "{member}"]),
        "action": st.sampled_from(["", *ACTIONS]),
        # ASCII: SQLite's LIKE folds the case of ASCII letters only. "%" and "_" must match themselves.
        "target": st.sampled_from(["", "hw-1", "MEMBER@", "#3", "100%", "%_", "_"])
        | st.text(TARGET_CHARS, max_size=12),
        "date_from": iso_dates | st.just(""),
        "date_to": iso_dates | st.just(""),
    }
    return draw(st.fixed_dictionaries({}, optional=optional))


def _matches(row: AuditEvent, data: dict[str, str]) -> bool:
    start, end = (data.get(name, "").strip() for name in ("date_from", "date_to"))
    day = row.at.astimezone(UTC).date()
    target = data.get("target", "").strip().lower()
    return (
        (not target or target in row.target_label.lower() or target in row.subject_label.lower())
        and (not data.get("actor") or str(row.actor_id) == data["actor"])
        and (not data.get("action") or row.action == data["action"])
        and (not start or day >= date.fromisoformat(start))
        and (not end or day <= date.fromisoformat(end))
    )


@FUZZ
@given(submission=submissions(audit_filters(), tricky=DATE_LIKE, files=False))
def test_audit_filters_list_exactly_the_matching_events_or_say_what_is_wrong(
    owner, member, owner_client, trail, submission
):
    submission = submission.filled(owner=str(owner.pk), member=str(member.pk))
    data = submission.data
    # ISO dates of four-digit years sort as text does.
    backwards = submission.pristine and "" < data.get("date_to", "") < data.get("date_from", "")
    before = counts(AuditEvent)

    response = submission.get(owner_client, "/audit/")

    refused = assert_filter_page(response, bad_filter_status=400)
    event("refused" if refused else "listed")
    if refused:
        assert not submission.pristine or backwards, "well-formed filters were refused"
    else:
        assert not backwards
        shown = list(response.context["page"].object_list)
        if submission.pristine:
            expected = [e.pk for e in AuditEvent.objects.filter(organisation=owner.organisation) if _matches(e, data)]
            assert sorted(e.pk for e in shown) == sorted(expected)
    assert counts(AuditEvent) == before  # reading the trail writes nothing

    export = submission.get(owner_client, "/audit/export.csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0] == ["time (UTC)", "who", "action", "target", "account", "ip_address"]
    if not refused:
        assert len(rows) - 1 == len(shown)  # the export holds what the page lists (all on one page here)


@FUZZ
@given(query=raw_query_strings())
@pytest.mark.parametrize("url", ["/audit/", "/audit/export.csv"])
def test_audit_pages_answer_any_query_string(owner_client, trail, url, query):
    response = owner_client.get(f"{url}?{query}")

    if url.endswith(".csv"):
        assert response.status_code == 200
        b"".join(response.streaming_content)
    else:
        assert_filter_page(response, bad_filter_status=400)


def test_audit_trail_up_to_the_last_day_a_date_can_hold_lists_every_event(owner_client, trail):
    # 31 December 9999 has no next day to compare with: the filter was a 500 (OverflowError).
    response = owner_client.get("/audit/", {"date_to": "9999-12-31"})

    assert response.status_code == 200
    assert sorted(e.pk for e in response.context["page"].object_list) == sorted(e.pk for e in trail)


@FUZZ
@given(
    link=st.one_of(
        st.from_regex(r"\A-?[0-9]{1,20}\.-?[0-9]{1,20}\Z"),
        st.text(max_size=50),
        st.builds(lambda a, b: f"{a}.{b}", st.integers(), st.integers()),
    ),
    key=st.sampled_from(["before", "after"]),
)
def test_any_page_link_lists_events_of_the_organisation_or_says_it_is_broken(owner_client, trail, link, key):
    response = owner_client.get("/audit/", {key: link})

    refused = assert_filter_page(response, bad_filter_status=400)
    shown = list(response.context["page"].object_list)
    assert not (refused and shown)
    assert {e.pk for e in shown} <= {e.pk for e in trail}
