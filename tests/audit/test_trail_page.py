"""The org admin's audit-trail page: filters, pagination, CSV, and nobody else's events."""

import csv
import io
from datetime import timedelta

from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import record


def _events(owner, member, outsider):
    record(action="user.added", actor=owner, subject_user=member, target=member.email)
    record(action="token.disabled", actor=member, subject_user=member, target='=HYPERLINK("x")')
    record(action="user.added", actor=outsider, subject_user=outsider, target="secret@globex.example")


def test_admin_sees_own_organisation_events_only(owner_client, owner, member, outsider):
    _events(owner, member, outsider)

    page = owner_client.get("/audit/").content.decode()

    assert "user.added" in page and "token.disabled" in page
    assert "secret@globex.example" not in page


def test_filters_by_actor_action_and_date(owner_client, owner, member, outsider):
    _events(owner, member, outsider)
    AuditEvent.objects.filter(action="token.disabled").update(at=F("at") - timedelta(days=10))

    by_actor = owner_client.get("/audit/", {"actor": member.pk}).content.decode()
    by_action = owner_client.get("/audit/", {"action": "user.added"}).content.decode()
    recent = owner_client.get(
        "/audit/", {"date_from": str((AuditEvent.objects.latest("at").at).date())}
    ).content.decode()

    assert "token.disabled" in by_actor and "<code>user.added</code>" not in by_actor
    assert "<code>token.disabled</code>" not in by_action
    assert "<code>token.disabled</code>" not in recent and "<code>user.added</code>" in recent


def test_bad_filter_gives_a_message_not_an_error(owner_client, owner):
    response = owner_client.get("/audit/", {"date_from": "2026-02-10", "date_to": "2026-01-01"})

    assert response.status_code == 400
    assert "must not be after" in response.content.decode()


def test_actor_of_another_organisation_is_not_a_valid_filter(owner_client, owner, outsider):
    response = owner_client.get("/audit/", {"actor": outsider.pk})

    assert response.status_code == 400
    assert "secret@globex.example" not in response.content.decode()


def test_csv_export_has_the_filtered_rows_and_defuses_formulas(owner_client, owner, member, outsider):
    _events(owner, member, outsider)

    response = owner_client.get("/audit/export.csv", {"actor": member.pk})

    assert response["Content-Disposition"] == 'attachment; filename="audit-trail.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["time", "who", "action", "target", "ip_address"]
    assert [r[2] for r in rows[1:]] == ["token.disabled"]
    assert rows[1][3].startswith("'=")


def test_members_cannot_read_or_export_the_trail(member_client):
    assert member_client.get("/audit/").status_code == 403
    assert member_client.get("/audit/export.csv").status_code == 403


def test_page_query_count_does_not_grow_with_events(owner_client, owner):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert owner_client.get("/audit/").status_code == 200
        return len(ctx)

    for _ in range(3):
        record(action="user.added", actor=owner, target="x")
    few = count_queries()
    AuditEvent.objects.bulk_create(
        AuditEvent(organisation=owner.organisation, actor=owner, actor_label=owner.email, action=f"a{i % 7}")
        for i in range(300)
    )
    assert count_queries() == few
