"""The audit page's object filter, keyset pages and export: what an org admin sees, at a cost that does not
grow with the trail, and never another organisation's events."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from audit.models import AuditEvent
from audit.services import record
from tests.conftest import log_in

AT = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _bulk(organisation, actor, count: int, *, target: str = "Hardware token #{n}", at=AT) -> None:
    """``count`` events a minute apart, newest first at ``at`` (bulk_create: auto_now_add then updated)."""
    created = AuditEvent.objects.bulk_create(
        AuditEvent(
            organisation=organisation,
            actor=actor,
            actor_label=actor.email,
            action="token.enrolled",
            target_label=target.format(n=n),
        )
        for n in range(count)
    )
    for n, event in enumerate(created):
        event.at = at - n * timedelta(minutes=1)
    AuditEvent.objects.bulk_update(created, ["at"])


def targets(response) -> list[str]:
    html = response.content.decode()
    body = html[html.index("<tbody>") : html.index("</tbody>")] if "<tbody>" in html else ""
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[3] for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def link(response, text: str) -> str | None:
    match = re.search(rf'href="(\?[^"]*)">{re.escape(text)}</a>', response.content.decode())
    return match[1].replace("&amp;", "&") if match else None


def csv_targets(response) -> list[str]:
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    return [row[3] for row in rows[1:]]


def test_the_object_filter_finds_any_part_of_the_target_or_the_account(owner_client, owner, member, outsider):
    record(action="token.enrolled", actor=owner, subject_user=member, target="Hardware token #3 (HW-1)")
    record(action="user.added", actor=owner, subject_user=owner, target="new.person@acme.example")
    record(action="token.enrolled", actor=outsider, subject_user=outsider, target="Hardware token #9 (HW-1)")

    by_target = owner_client.get("/audit/", {"target": "hw-1"})
    by_account = owner_client.get("/audit/", {"target": "MEMBER@"})
    exported = owner_client.get("/audit/export.csv", {"target": "hw-1"})

    assert targets(by_target) == ["Hardware token #3 (HW-1)"]
    assert targets(by_account) == ["Hardware token #3 (HW-1)"]
    assert csv_targets(exported) == ["Hardware token #3 (HW-1)"]


def test_filters_combine_and_the_page_says_what_is_wrong(owner_client, owner, member):
    record(action="token.enrolled", actor=member, target="Phone")
    record(action="token.disabled", actor=member, target="Phone")
    record(action="token.enrolled", actor=owner, target="Phone")

    both = owner_client.get("/audit/", {"actor": member.pk, "action": "token.enrolled", "target": "phone"})
    too_long = owner_client.get("/audit/", {"target": "x" * 255})
    not_a_date = owner_client.get("/audit/", {"date_from": "2025-13-45"})

    assert targets(both) == ["Phone"]
    assert both.context["page"].object_list[0].action == "token.enrolled"
    assert too_long.status_code == 400 and "at most 254 characters" in too_long.content.decode()
    assert not_a_date.status_code == 400 and "Enter a valid date" in not_a_date.content.decode()


def test_pages_walk_older_and_back_newer_without_gaps_or_repeats(owner_client, owner):
    _bulk(owner.organisation, owner, 120)
    # Three events at one and the same time, across a page boundary: the id breaks the tie.
    AuditEvent.objects.filter(
        target_label__in=["Hardware token #48", "Hardware token #49", "Hardware token #50"]
    ).update(at=AT - timedelta(minutes=49))
    expected = list(AuditEvent.objects.order_by("-at", "-id").values_list("target_label", flat=True))

    pages = [owner_client.get("/audit/", {"target": "token"})]
    while older := link(pages[-1], "Older →"):
        assert "target=token" in older  # the filters stay on every page
        pages.append(owner_client.get(f"/audit/{older}"))
    back = [pages[-1]]
    while newer := link(back[-1], "← Newer"):
        back.append(owner_client.get(f"/audit/{newer}"))

    assert [len(targets(page)) for page in pages] == [50, 50, 20]
    assert [t for page in pages for t in targets(page)] == expected
    assert [t for page in reversed(back) for t in targets(page)] == expected
    assert link(pages[0], "← Newer") is None and link(back[-1], "← Newer") is None


@pytest.mark.parametrize("cursor", ["before=abc", "before=1.0", "after=999999999999999999.1", "before=1.2&after=1.2"])
def test_a_broken_page_link_says_so(owner_client, owner, cursor):
    _bulk(owner.organisation, owner, 3)

    response = owner_client.get(f"/audit/?{cursor}")

    assert response.status_code == 400
    assert "This page link is not valid" in response.content.decode()
    assert targets(response) == []


def test_another_organisations_events_never_appear_through_filters_pages_or_export(owner_client, owner, outsider):
    _bulk(owner.organisation, owner, 60, target="Acme token #{n}")
    _bulk(outsider.organisation, outsider, 60, target="Globex token #{n}", at=AT + timedelta(seconds=30))
    theirs = AuditEvent.objects.filter(organisation=outsider.organisation).order_by("-at", "-id")[10]

    # Their cursor, their object text, their actor: nothing of theirs on the admin's pages.
    from_their_cursor = owner_client.get(
        "/audit/",
        {"before": f"{(theirs.at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)}.{theirs.pk}"},
    )
    their_text = owner_client.get("/audit/", {"target": "Globex"})
    their_export = owner_client.get("/audit/export.csv", {"target": "token"})
    their_actor = owner_client.get("/audit/export.csv", {"actor": outsider.pk})

    assert targets(from_their_cursor) and all(t.startswith("Acme") for t in targets(from_their_cursor))
    assert targets(their_text) == []
    assert len(csv_targets(their_export)) == 60 and all(t.startswith("Acme") for t in csv_targets(their_export))
    assert csv_targets(their_actor) == []
    their_own = csv_targets(log_in(Client(), outsider).get("/audit/export.csv"))
    assert len(their_own) == 60 and all(t.startswith("Globex") for t in their_own)


@pytest.mark.parametrize("events", [5, 400])
def test_a_page_costs_the_same_queries_however_long_the_trail(
    owner_client, owner, events, django_assert_max_num_queries
):
    _bulk(owner.organisation, owner, events)
    first = owner_client.get("/audit/", {"target": "token"})
    older = link(first, "Older →") or "?before=1.1"

    with django_assert_max_num_queries(8):
        owner_client.get("/audit/", {"target": "token", "action": "token.enrolled"})
    with django_assert_max_num_queries(8):
        owner_client.get(f"/audit/{older}")


@pytest.mark.parametrize("events", [5, 5000])
def test_the_export_costs_the_same_queries_however_long_the_trail(
    owner_client, owner, events, django_assert_max_num_queries
):
    _bulk(owner.organisation, owner, events)

    with django_assert_max_num_queries(8):
        response = owner_client.get("/audit/export.csv", {"target": "token"})
        assert len(csv_targets(response)) == events
