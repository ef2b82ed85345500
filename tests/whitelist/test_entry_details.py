"""Whitelist entries have an owner and an optional expiry date (issue 16); the description is the
entry's reason. Adding sets them, the edit page changes them (audited, emailed), and an hourly task
warns the admins 7 days ahead and removes the entry on its date, once each."""

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Organisation
from audit.models import AuditEvent
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import AdminFactory, UserFactory
from tests.whitelist.helpers import add, grant_whitelist, networks
from whitelist import selectors, services, tasks
from whitelist.models import ExpiryNotice, WhitelistEntry

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def add_with(organisation, by, raw="203.0.113.0/24", description="Office", **kwargs) -> WhitelistEntry:
    return services.add_entry(organisation=organisation, raw=raw, description=description, acting_user=by, **kwargs)


# --- Adding with an owner and an expiry date ----------------------------------------------------


def test_the_adder_owns_the_entry_unless_another_user_is_named(organisation, owner, member):
    mine = add_with(organisation, owner)
    theirs = add_with(organisation, owner, raw="198.51.100.7", owner=member, expires_on=TODAY + dt.timedelta(days=30))

    assert mine.owner == owner and mine.expires_on is None
    assert theirs.owner == member and theirs.expires_on == dt.date(2027, 1, 2)
    event = AuditEvent.objects.filter(action="whitelist.added").order_by("-pk").first()
    assert event.details == {"description": "Office", "owner": "member@acme.example", "expires_on": "2027-01-02"}


def test_a_user_of_another_organisation_cannot_own_an_entry(organisation, owner, outsider):
    with pytest.raises(ValidationError) as caught:
        add_with(organisation, owner, owner=outsider)

    assert caught.value.message_dict == {
        "owner": ["Oscar Outsider is not an active user of Acme Payments Ltd: choose the owner among its users."]
    }
    assert networks(organisation) == []


def test_an_inactive_user_cannot_own_an_entry(organisation, owner):
    gone = UserFactory.create(organisation=organisation, is_active=False, full_name="Gus Gone")

    with pytest.raises(ValidationError) as caught:
        add_with(organisation, owner, owner=gone)

    assert "Gus Gone is not an active user" in caught.value.message_dict["owner"][0]


@pytest.mark.parametrize("days", [0, -1, -400])
def test_the_expiry_date_must_be_in_the_future(organisation, owner, days):
    with pytest.raises(ValidationError) as caught:
        add_with(organisation, owner, description="", expires_on=TODAY + dt.timedelta(days=days))

    # Every problem at once, nothing stored.
    assert set(caught.value.message_dict) == {"description", "expires_on"}
    assert caught.value.message_dict["expires_on"] == [
        "Choose an expiry date after today (3 Dec 2026): the entry is removed on that date. "
        "Leave it empty to keep the entry until someone removes it."
    ]
    assert networks(organisation) == []


def test_the_add_page_refuses_a_forged_owner_of_another_organisation_with_a_clear_message(
    owner_client, organisation, outsider
):
    response = owner_client.post(
        "/whitelist/add/", {"network": "198.51.100.7", "description": "Batch", "owner": str(outsider.pk)}
    )

    assert response.status_code == 400
    assert "Choose the owner among the active users of your organisation." in _page(response)
    assert "Oscar Outsider" not in _page(response)
    assert networks(organisation) == []


def test_the_add_page_sets_owner_and_expiry_and_the_list_shows_them(owner_client, organisation, member):
    response = owner_client.post(
        "/whitelist/add/",
        {"network": "198.51.100.7", "description": "Pen test", "owner": str(member.pk), "expires_on": "2026-12-08"},
    )

    assert response.status_code == 302
    page = _page(owner_client.get("/whitelist/"))
    row = page[page.index("<code>198.51.100.7/32</code>") :]
    row = row[: row.index("</tr>")]
    assert "Max Member" in row
    assert "8 Dec 2026" in row


def test_the_add_page_refuses_a_past_expiry_date_and_keeps_the_input(owner_client, organisation):
    response = owner_client.post(
        "/whitelist/add/", {"network": "198.51.100.7", "description": "Pen test", "expires_on": "2026-12-01"}
    )

    assert response.status_code == 400
    page = _page(response)
    assert "Choose an expiry date after today" in page
    assert 'value="198.51.100.7"' in page and 'value="2026-12-01"' in page
    assert networks(organisation) == []


# --- Editing -----------------------------------------------------------------------------------


@pytest.fixture
def office(organisation, owner) -> WhitelistEntry:
    return add(organisation, owner, "203.0.113.0/24", "Office, London")


def test_the_edit_page_changes_reason_owner_and_expiry_audited_and_emailed(
    owner_client, organisation, owner, member, office, django_capture_on_commit_callbacks
):
    AdminFactory.create(organisation=organisation, email="ada@acme.example")
    mail.outbox.clear()
    page = _page(owner_client.get(f"/whitelist/{office.pk}/edit/"))
    assert 'value="Office, London"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            f"/whitelist/{office.pk}/edit/",
            {"description": "Office, Leeds", "owner": str(member.pk), "expires_on": "2027-01-31"},
        )

    assert response.status_code == 302
    office.refresh_from_db()
    assert (office.description, office.owner, office.expires_on) == ("Office, Leeds", member, dt.date(2027, 1, 31))
    event = AuditEvent.objects.get(action="whitelist.changed")
    assert (event.actor, event.target_label) == (owner, "203.0.113.0/24")
    assert event.details == {
        "changes": {
            "description": ["Office, London", "Office, Leeds"],
            "owner": ["owner@acme.example", "member@acme.example"],
            "expires_on": [None, "2027-01-31"],
        }
    }
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@acme.example", "owner@acme.example"]
    body = mail.outbox[0].body
    assert "Olivia Owner (owner@acme.example) changed 203.0.113.0/24" in body
    assert "- Owner: owner@acme.example → member@acme.example" in body
    assert "- Expiry date: none → 2027-01-31" in body


def test_saving_an_unchanged_entry_records_and_sends_nothing(owner, office, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.change_entry(
            entry=office, description="Office, London", owner=owner, expires_on=None, acting_user=owner
        )

    assert not AuditEvent.objects.filter(action="whitelist.changed").exists()
    assert mail.outbox == []


def test_edit_refuses_a_past_date_and_an_outsider_owner_and_changes_nothing(owner_client, office, outsider):
    response = owner_client.post(
        f"/whitelist/{office.pk}/edit/",
        {"description": "", "owner": str(outsider.pk), "expires_on": "2026-12-03"},
    )

    assert response.status_code == 400
    page = _page(response)
    assert "Add a description" in page
    assert "Choose the owner among the active users of your organisation." in page
    office.refresh_from_db()
    assert (office.description, office.expires_on) == ("Office, London", None)
    assert not AuditEvent.objects.filter(action="whitelist.changed").exists()


def test_edit_service_refuses_a_past_date(owner, office):
    with pytest.raises(ValidationError) as caught:
        services.change_entry(entry=office, description="Office", owner=owner, expires_on=TODAY, acting_user=owner)

    assert list(caught.value.message_dict) == ["expires_on"]


def test_a_member_without_the_permission_cannot_edit(member_client, office):
    assert member_client.get(f"/whitelist/{office.pk}/edit/").status_code == 403
    assert member_client.post(f"/whitelist/{office.pk}/edit/", {"description": "x"}).status_code == 403
    office.refresh_from_db()
    assert office.description == "Office, London"


def test_a_granted_member_can_edit(client, member, office):
    grant_whitelist(member)
    response = log_in(client, member).post(
        f"/whitelist/{office.pk}/edit/", {"description": "Office", "owner": str(member.pk)}
    )

    assert response.status_code == 302
    office.refresh_from_db()
    assert office.owner == member


def test_another_organisations_admin_can_neither_edit_nor_remove_an_entry(office, outsider):
    client = log_in(Client(), outsider)

    for url in (f"/whitelist/{office.pk}/edit/", f"/whitelist/{office.pk}/remove/"):
        assert client.get(url).status_code == 404
        assert client.post(url, {"description": "Mine now", "owner": str(outsider.pk)}).status_code == 404
    office.refresh_from_db()
    assert (office.description, office.owner_id) == ("Office, London", office.added_by_id)


def test_the_owner_list_holds_only_this_organisations_active_users(owner_client, office, outsider, organisation):
    UserFactory.create(organisation=organisation, is_active=False, full_name="Gus Gone")

    page = _page(owner_client.get(f"/whitelist/{office.pk}/edit/"))

    assert "Olivia Owner" in page
    assert "Oscar Outsider" not in page
    assert "Gus Gone" not in page


def test_the_edit_page_issues_the_same_number_of_queries_with_few_or_many_users(owner_client, organisation, office):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get(f"/whitelist/{office.pk}/edit/").status_code == 200
        return len(queries)

    few = count()
    organisation.user_limit = 50
    organisation.save()
    UserFactory.create_batch(10, organisation=organisation)
    assert count() == few


# --- The periodic task: warned 7 days ahead, removed on the date, once each --------------------


def run_task(clock: time_machine.Traveller, day: dt.date, capture) -> list[mail.EmailMessage]:
    clock.move_to(dt.datetime.combine(day, dt.time(0, 30), tzinfo=dt.UTC))
    before = len(mail.outbox)
    with capture(execute=True):
        tasks.expire_whitelist_entries.delay()
    return mail.outbox[before:]


def test_admins_are_warned_7_days_ahead_once_and_told_when_the_entry_is_removed(
    clock, organisation, owner, member, django_capture_on_commit_callbacks
):
    AdminFactory.create(organisation=organisation, email="ada@acme.example")
    entry = add_with(
        organisation, owner, raw="192.0.2.50", description="Pen test", owner=member, expires_on=dt.date(2026, 12, 20)
    )
    mail.outbox.clear()

    assert run_task(clock, dt.date(2026, 12, 12), django_capture_on_commit_callbacks) == []  # 8 days ahead
    warned = run_task(clock, dt.date(2026, 12, 13), django_capture_on_commit_callbacks)
    assert sorted(m.to[0] for m in warned) == ["ada@acme.example", "owner@acme.example"]
    assert warned[0].subject == "API whitelist of Acme Payments Ltd: 192.0.2.50/32 expires on 20 Dec 2026"
    assert "in 7 days" in warned[0].body and "Owner: Max Member." in warned[0].body
    assert f"/whitelist/{entry.pk}/edit/" in warned[0].body
    assert run_task(clock, dt.date(2026, 12, 14), django_capture_on_commit_callbacks) == []  # once
    assert run_task(clock, dt.date(2026, 12, 19), django_capture_on_commit_callbacks) == []
    assert networks(organisation) == ["192.0.2.50/32"]

    removed = run_task(clock, dt.date(2026, 12, 20), django_capture_on_commit_callbacks)

    assert networks(organisation) == []
    assert sorted(m.to[0] for m in removed) == ["ada@acme.example", "owner@acme.example"]
    assert removed[0].subject == "API whitelist of Acme Payments Ltd: 192.0.2.50/32 expired and removed"
    assert "reached its expiry date, 20 Dec 2026, and was removed" in removed[0].body
    event = AuditEvent.objects.get(action="whitelist.removed")
    assert (event.actor, event.actor_label, event.target_label) == (None, "system", "192.0.2.50/32")
    assert event.details == {"description": "Pen test", "expired_on": "2026-12-20"}
    assert run_task(clock, dt.date(2026, 12, 21), django_capture_on_commit_callbacks) == []


def test_an_entry_added_within_7_days_of_its_expiry_is_warned_at_the_next_run(
    clock, organisation, owner, django_capture_on_commit_callbacks
):
    add_with(organisation, owner, expires_on=TODAY + dt.timedelta(days=2))
    mail.outbox.clear()

    warned = run_task(clock, TODAY, django_capture_on_commit_callbacks)

    assert [m.to for m in warned] == [[owner.email]]
    assert "in 2 days" in warned[0].body


def test_a_moved_expiry_date_gets_its_own_warning_and_a_cleared_one_none(
    clock, organisation, owner, django_capture_on_commit_callbacks
):
    entry = add_with(organisation, owner, expires_on=TODAY + dt.timedelta(days=3))
    run_task(clock, TODAY, django_capture_on_commit_callbacks)
    services.change_entry(
        entry=entry, description="Office", owner=owner, expires_on=TODAY + dt.timedelta(days=5), acting_user=owner
    )
    mail.outbox.clear()

    assert len(run_task(clock, TODAY, django_capture_on_commit_callbacks)) == 1
    services.change_entry(entry=entry, description="Office", owner=owner, expires_on=None, acting_user=owner)
    assert run_task(clock, TODAY + dt.timedelta(days=5), django_capture_on_commit_callbacks) == []
    assert networks(organisation) == ["203.0.113.0/24"]
    assert ExpiryNotice.objects.filter(entry=entry).count() == 2


def test_the_platforms_read_changes_when_an_entry_expires(
    clock, organisation, owner, django_capture_on_commit_callbacks
):
    add_with(organisation, owner, raw="198.51.100.7", expires_on=TODAY + dt.timedelta(days=1))
    add_with(organisation, owner)
    before = selectors.networks_for_platform(organisation)

    run_task(clock, TODAY + dt.timedelta(days=1), django_capture_on_commit_callbacks)

    after = selectors.networks_for_platform(organisation)
    assert [n["network"] for n in after["networks"]] == ["203.0.113.0/24"]
    assert after["updated_at"] > before["updated_at"]


@pytest.mark.postgres
def test_two_runs_at_once_warn_and_remove_each_entry_once(transactional_db):
    from tests.race import race

    assert connection.vendor == "postgresql"
    organisation = Organisation.objects.create(name="Race Ltd")
    admin = AdminFactory.create(organisation=organisation, email="admin@race.example")
    with time_machine.travel(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC), tick=False):
        for n in range(4):
            add_with(organisation, admin, raw=f"192.0.2.{n + 1}", expires_on=TODAY)  # removed today
            add_with(organisation, admin, raw=f"198.51.100.{n + 1}", expires_on=TODAY + dt.timedelta(days=3))
    mail.outbox.clear()
    audit_before = AuditEvent.objects.filter(action="whitelist.removed").count()

    results, errors = race([lambda: tasks.expire_whitelist_entries.run() for _ in range(4)])

    assert errors == []
    assert sum(r["removed"] for r in results) == 4
    assert sum(r["warned"] for r in results) == 4
    assert networks(organisation) == [f"198.51.100.{n + 1}/32" for n in range(4)]
    assert AuditEvent.objects.filter(action="whitelist.removed").count() - audit_before == 4
    assert ExpiryNotice.objects.count() == 4
    subjects = sorted(m.subject for m in mail.outbox)
    assert len(subjects) == 8
    assert sum("expired and removed" in s for s in subjects) == 4
    assert sum("expires on 6 Dec 2026" in s for s in subjects) == 4


def test_the_task_is_scheduled(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["expire-whitelist-entries"]
    assert schedule["task"] == "whitelist.tasks.expire_whitelist_entries"
    assert schedule["schedule"] <= 60 * 60


def test_editing_an_entry_removed_a_moment_ago_says_so(owner, office):
    WhitelistEntry.objects.filter(pk=office.pk).delete()

    with pytest.raises(ValidationError) as caught:
        services.change_entry(entry=office, description="Office", owner=owner, expires_on=None, acting_user=owner)

    assert caught.value.messages == ["203.0.113.0/24 is no longer on the whitelist."]


def test_an_owner_who_left_is_marked_so_someone_takes_the_entry_over(owner_client, organisation, owner, member):
    entry = add_with(organisation, owner, owner=member)
    member.is_active = False
    member.save(update_fields=["is_active"])

    page = _page(owner_client.get("/whitelist/"))
    row = page[page.index("<code>203.0.113.0/24</code>") :]
    assert 'Max Member <span class="badge badge--warning">left</span>' in row[: row.index("</tr>")]
    edit = _page(owner_client.get(f"/whitelist/{entry.pk}/edit/"))
    assert f'<option value="{member.pk}"' not in edit  # not offered as an owner any more
    assert "Max Member, who answered for this entry, has left" in edit


@pytest.mark.parametrize("how", ["deactivated", "deleted"])
def test_editing_an_entry_whose_owner_left_asks_for_a_new_owner_instead_of_picking_one(
    owner_client, organisation, owner, member, how
):
    entry = add_with(organisation, owner, owner=member)
    if how == "deactivated":
        member.is_active = False
        member.save(update_fields=["is_active"])
    else:
        member.delete()

    page = _page(owner_client.get(f"/whitelist/{entry.pk}/edit/"))
    assert "choose its new owner before saving" in page
    assert '<option value="" selected>Choose the new owner</option>' in page  # nobody preselected

    # Saving only the reason, as a browser sends the untouched empty choice, changes nothing.
    response = owner_client.post(f"/whitelist/{entry.pk}/edit/", {"description": "Office, 2nd floor", "owner": ""})
    assert response.status_code == 400
    assert "This entry&#x27;s owner has left: choose who answers for it now." in _page(response)
    entry.refresh_from_db()
    assert entry.description == "Office" and entry.owner_id == (member.pk if how == "deactivated" else None)
    assert not AuditEvent.objects.filter(action="whitelist.changed").exists()

    response = owner_client.post(
        f"/whitelist/{entry.pk}/edit/", {"description": "Office, 2nd floor", "owner": str(owner.pk)}
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.description == "Office, 2nd floor" and entry.owner == owner


def test_editing_an_entry_whose_owner_is_active_keeps_them_preselected(owner_client, organisation, owner, member):
    entry = add_with(organisation, owner, owner=member)

    page = _page(owner_client.get(f"/whitelist/{entry.pk}/edit/"))
    assert "choose its new owner" not in page
    assert "Choose the new owner" not in page
    assert f'<option value="{member.pk}" selected>' in page


def test_the_platforms_read_drops_an_entry_at_the_start_of_its_expiry_day_before_the_task_runs(
    clock, organisation, owner
):
    add_with(organisation, owner, raw="198.51.100.7", expires_on=TODAY + dt.timedelta(days=1))
    add_with(organisation, owner)
    before = selectors.platform_body(selectors.networks_for_platform(organisation))

    clock.move_to(dt.datetime(2026, 12, 3, 23, 59, 59, tzinfo=dt.UTC))
    assert selectors.platform_body(selectors.networks_for_platform(organisation)) == before  # still the day before

    clock.move_to(dt.datetime(2026, 12, 4, 0, 0, 1, tzinfo=dt.UTC))  # the hourly task has not run yet
    after = selectors.networks_for_platform(organisation)
    assert [n["network"] for n in after["networks"]] == ["203.0.113.0/24"]
    assert after["updated_at"] == "2026-12-04T00:00:00Z"
    assert selectors.etag_for(selectors.platform_body(after)) != selectors.etag_for(before)
    assert WhitelistEntry.objects.filter(network="198.51.100.7/32").exists()  # the row goes with the task
