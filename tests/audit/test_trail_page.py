"""The org admin's audit-trail page: filters, pagination, CSV, and nobody else's events."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import services as accounts_services
from accounts.models import User
from audit.models import AuditEvent
from audit.services import record


def _events(owner, member, outsider):
    record(action="user.added", actor=owner, subject_user=member, target=member.email)
    record(action="token.disabled", actor=member, subject_user=member, target='=HYPERLINK("x")')
    record(action="user.added", actor=outsider, subject_user=outsider, target="secret@globex.example")


def table(response) -> list[list[str]]:
    """The rows of the page's table, each a list of its cells' text."""
    html = response.content.decode()
    body = html[html.index("<tbody>") : html.index("</tbody>")] if "<tbody>" in html else ""
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def what(response) -> list[str]:
    return [row[2] for row in table(response)]


def test_admin_sees_own_organisation_events_only(owner_client, owner, member, outsider):
    _events(owner, member, outsider)

    response = owner_client.get("/audit/")

    assert what(response) == ["Token disabled", "User added"]
    assert "secret@globex.example" not in response.content.decode()


def test_filters_by_actor_action_and_date(owner_client, owner, member, outsider):
    _events(owner, member, outsider)
    AuditEvent.objects.filter(action="token.disabled").update(at=F("at") - timedelta(days=10))

    by_actor = owner_client.get("/audit/", {"actor": member.pk})
    by_action = owner_client.get("/audit/", {"action": "user.added"})
    recent = owner_client.get("/audit/", {"date_from": str((AuditEvent.objects.latest("at").at).date())})

    assert what(by_actor) == ["Token disabled"]
    assert what(by_action) == ["User added"]
    assert what(recent) == ["User added"]


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
    assert rows[0] == ["time (UTC)", "who", "action", "target", "account", "ip_address"]
    assert [r[2] for r in rows[1:]] == ["Token disabled"]
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


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_an_event_reads_the_same_on_the_page_and_in_the_csv(owner_client, owner, member):
    """Words for the action, whose token it was; the time in UTC: the portal's one date-time format on
    the page (with the exact second in its title), to the second in the CSV."""
    event = record(action="token.disabled", actor=owner, subject_user=member, target="Authenticator app #7 (Phone)")
    AuditEvent.objects.filter(pk=event.pk).update(at=datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC))

    response = owner_client.get("/audit/")
    (row,) = table(response)
    (header, exported) = csv_rows(owner_client.get("/audit/export.csv"))

    assert row == [
        "4 Mar 2026, 05:06",
        "owner@acme.example",
        "Token disabled",
        "Authenticator app #7 (Phone)",
        "member@acme.example",
        "—",  # recorded outside a request: no address
    ]
    assert header == ["time (UTC)", "who", "action", "target", "account", "ip_address"]
    assert exported == ["2026-03-04 05:06:07", *row[1:5], ""]
    exact = '<time datetime="2026-03-04T05:06:07.890123+00:00" title="2026-03-04 05:06:07 UTC">'
    assert exact in response.content.decode()


def test_whose_account_an_event_touched_stays_after_the_account_is_removed(owner_client, owner, member):
    record(action="token.enrolled", actor=owner, subject_user=member, target="Hardware token #3 (HW-1)")
    accounts_services.remove_user(user=member, acting_user=owner)

    rows = table(owner_client.get("/audit/"))

    assert not User.objects.filter(pk=member.pk).exists()
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("User removed", "member@acme.example", "—"),
        ("Token enrolled", "Hardware token #3 (HW-1)", "member@acme.example"),
    ]


def test_events_without_an_actor_say_whether_someone_or_the_portal_did_it(owner_client, owner, member):
    Client().post("/login/", {"username": member.email, "password": "not-the-password-1"}, REMOTE_ADDR="198.51.100.9")
    record(action="extract.done", actor=None, organisation=owner.organisation, target="tokens.csv.gz")

    rows = table(owner_client.get("/audit/"))

    assert [(r[1], r[2], r[4], r[5]) for r in rows] == [
        ("The portal (automatic)", "Token extract ready", "—", "—"),
        ("Not logged in", "Wrong password at login", "member@acme.example", "198.51.100.9"),
    ]


def test_the_action_filter_offers_the_recorded_actions_in_words(owner_client, owner, member, outsider):
    _events(owner, member, outsider)

    page = owner_client.get("/audit/").content.decode()

    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', page)
    assert ("token.disabled", "Token disabled") in options and ("user.added", "User added") in options
    assert not [text for value, text in options if value and text == value]
