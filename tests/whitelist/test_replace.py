"""A range that covers existing entries replaces them in one change (issue 19): one transaction, one
audit event and one email per admin naming what went, and the platform's read never without the
address (today's alternative, removing them first, leaves a window where the address is refused)."""

import threading

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client

from audit.models import AuditEvent
from platform_api import services as keys
from tests.conftest import page_text
from tests.factories import AdminFactory
from tests.whitelist.helpers import add, networks
from whitelist import services
from whitelist.models import WhitelistEntry


@pytest.fixture
def servers(organisation, owner) -> list[WhitelistEntry]:
    """Two single addresses inside 203.0.113.0/24, and one elsewhere."""
    return [
        add(organisation, owner, "203.0.113.7", "Server A"),
        add(organisation, owner, "203.0.113.9", "Server B"),
        add(organisation, owner, "198.51.100.7", "Batch job"),
    ]


def ids(entries: list[WhitelistEntry]) -> list[int]:
    return [entry.pk for entry in entries]


def replace(organisation, by, raw: str, replace: list[int], description: str = "Office range") -> WhitelistEntry:
    return services.add_entry(
        organisation=organisation, raw=raw, description=description, replace=replace, acting_user=by
    )


# --- The service ------------------------------------------------------------------------------


def test_covering_range_names_the_entries_it_would_replace(organisation, owner, servers):
    with pytest.raises(ValidationError) as refused:
        add(organisation, owner, "203.0.113.0/24")

    [error] = refused.value.error_dict["network"]
    assert isinstance(error, services.CoversEntries)
    assert error.covered_ids == ids(servers[:2])
    assert "Tick “Replace the 2 entries it covers”" in error.message
    assert len(networks(organisation)) == 3


def test_range_replaces_the_entries_it_covers_in_one_audited_change(
    organisation, owner, servers, django_capture_on_commit_callbacks
):
    AdminFactory(organisation=organisation, email="ada@acme.example", full_name="Ada Admin")
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True)[0]

    with django_capture_on_commit_callbacks(execute=True):
        entry = replace(organisation, owner, "203.0.113.0/24", ids(servers[:2]))

    assert networks(organisation) == ["198.51.100.7/32", "203.0.113.0/24"]
    assert entry.network == "203.0.113.0/24"
    [event] = AuditEvent.objects.filter(pk__gt=last)  # one event for the whole change
    assert (event.action, event.target_label, event.actor) == ("whitelist.replaced", "203.0.113.0/24", owner)
    assert event.details == {
        "description": "Office range",
        "owner": owner.email,
        "expires_on": None,
        "replaced": [
            {"network": "203.0.113.7/32", "description": "Server A"},
            {"network": "203.0.113.9/32", "description": "Server B"},
        ],
    }
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@acme.example", "owner@acme.example"]  # one each
    for message in mail.outbox:
        assert message.subject == "API whitelist of Acme Payments Ltd: 203.0.113.0/24 added, replacing 2 entries"
        assert "It replaces the 2 entries it covers, removed in the same change" in message.body
        assert "- 203.0.113.7/32 (Server A)\n- 203.0.113.9/32 (Server B)" in message.body
        assert "The whitelist now holds 2 of 100 entries" in message.body
        html = message.alternatives[0][0]
        assert "<li>203.0.113.7/32 (Server A)</li><li>203.0.113.9/32 (Server B)</li>" in html


def test_one_covered_entry_is_named_in_the_singular(organisation, owner, servers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        replace(organisation, owner, "203.0.113.0/29", ids(servers[:1]))

    assert (
        mail.outbox[0].subject
        == "API whitelist of Acme Payments Ltd: 203.0.113.0/29 added, replacing the entry it covers"
    )
    assert "It replaces the entry it covers" in mail.outbox[0].body


@pytest.mark.parametrize("agreed", [[], [0], [0, 1, 2]], ids=["none", "fewer", "more"])
def test_replacement_happens_only_for_exactly_the_entries_covered(organisation, owner, servers, agreed):
    with pytest.raises(ValidationError) as refused:
        replace(organisation, owner, "203.0.113.0/24", [servers[n].pk for n in agreed])

    assert refused.value.error_dict["network"][0].covered_ids == ids(servers[:2])
    assert len(networks(organisation)) == 3
    assert not AuditEvent.objects.filter(action="whitelist.replaced").exists()


def test_another_organisations_entry_is_never_replaced(organisation, owner, outsider, servers):
    theirs = add(outsider.organisation, outsider, "203.0.113.7", "Globex server")

    with pytest.raises(ValidationError) as refused:
        replace(organisation, owner, "203.0.113.0/24", [theirs.pk])

    assert refused.value.error_dict["network"][0].covered_ids == ids(servers[:2])
    assert networks(outsider.organisation) == ["203.0.113.7/32"]


def test_a_range_covering_nothing_of_ours_is_added_and_touches_no_one_else(organisation, owner, outsider):
    theirs = add(outsider.organisation, outsider, "203.0.113.7", "Globex server")

    replace(organisation, owner, "203.0.113.0/24", [theirs.pk])

    assert networks(organisation) == ["203.0.113.0/24"]
    assert networks(outsider.organisation) == ["203.0.113.7/32"]
    assert AuditEvent.objects.filter(action="whitelist.added", target_label="203.0.113.0/24").exists()


def test_a_range_at_the_maximum_replaces_the_entries_it_covers(organisation, owner, servers, settings):
    settings.WHITELIST_MAX_ENTRIES = 3

    replace(organisation, owner, "203.0.113.0/24", ids(servers[:2]))

    assert networks(organisation) == ["198.51.100.7/32", "203.0.113.0/24"]


def test_broad_covering_range_asks_both_questions_at_once(organisation, owner, servers):
    with pytest.raises(ValidationError) as refused:
        add(organisation, owner, "203.0.0.0/8")

    assert set(refused.value.error_dict) == {"network", "confirm_broad"}


def test_a_failure_during_the_replacement_leaves_every_entry(
    organisation, owner, servers, monkeypatch, django_capture_on_commit_callbacks
):
    def audit_down(**kwargs):
        raise RuntimeError("audit trail unavailable")

    monkeypatch.setattr(services, "record", audit_down)  # after the delete and the insert

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        replace(organisation, owner, "203.0.113.0/24", ids(servers[:2]))

    assert networks(organisation) == ["198.51.100.7/32", "203.0.113.7/32", "203.0.113.9/32"]
    assert mail.outbox == []


# --- The platform's read during the change (PostgreSQL: real concurrent transactions) ------------


def platform_networks(client: Client, organisation) -> list[str]:
    response = client.get(f"/api/platform/v1/whitelist/{organisation.public_id}")
    assert response.status_code == 200
    return [n["network"] for n in response.json()["networks"]]


@pytest.mark.postgres
def test_platform_never_reads_a_whitelist_without_the_address_during_a_replacement(
    transactional_db, organisation, owner, monkeypatch
):
    servers = [add(organisation, owner, "203.0.113.7", "Server A"), add(organisation, owner, "203.0.113.9", "B")]
    _, key = keys.issue_key(name="gateway", acting_user=None)
    platform = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    deleted, resume = threading.Event(), threading.Event()
    create = WhitelistEntry.objects.create

    def create_after_a_pause(**kwargs):
        deleted.set()  # the covered entries are deleted in the writer's open transaction
        assert resume.wait(30)
        return create(**kwargs)

    monkeypatch.setattr(WhitelistEntry.objects, "create", create_after_a_pause)
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            replace(organisation, owner, "203.0.113.0/24", ids(servers))
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert deleted.wait(30)
        # Mid-change, the platform still reads both addresses: nothing is committed yet.
        assert platform_networks(platform, organisation) == ["203.0.113.7/32", "203.0.113.9/32"]
    finally:
        resume.set()
        thread.join(30)
    assert failures == []
    assert platform_networks(platform, organisation) == ["203.0.113.0/24"]


# --- The pages --------------------------------------------------------------------------------


def test_page_offers_to_replace_then_replaces_in_one_step(owner_client, organisation, servers):
    data = {"network": "203.0.113.0/24", "description": "Office range"}

    offered = owner_client.post("/whitelist/add/", data)

    assert offered.status_code == 400
    page = page_text(offered)
    assert (
        "203.0.113.0/24 would cover the existing 2 entries 203.0.113.7/32 (Server A), 203.0.113.9/32 (Server B)."
        in page
    )
    assert "Replace the 2 entries it covers" in page
    covered = f"{servers[0].pk},{servers[1].pk}"
    assert f'name="covered" value="{covered}"' in page
    assert 'name="replace_covered"' in page and "checked" not in page.split('name="replace_covered"')[1][:40]
    assert 'value="203.0.113.0/24"' in page  # what was typed stays
    assert len(networks(organisation)) == 3

    done = owner_client.post("/whitelist/add/", {**data, "covered": covered, "replace_covered": "on"}, follow=True)

    assert done.redirect_chain == [("/whitelist/", 302)]
    assert (
        "203.0.113.0/24 is on the whitelist in place of the 2 entries it covers. Every admin gets an email about it."
        in page_text(done)
    )
    assert networks(organisation) == ["198.51.100.7/32", "203.0.113.0/24"]


def test_page_asks_again_when_the_covered_entries_changed_meanwhile(owner_client, organisation, owner, servers):
    stale = f"{servers[0].pk},{servers[1].pk}"
    newcomer = add(organisation, owner, "203.0.113.20", "Server C")  # added by someone else meanwhile

    response = owner_client.post(
        "/whitelist/add/",
        {"network": "203.0.113.0/24", "description": "Office range", "covered": stale, "replace_covered": "on"},
    )

    assert response.status_code == 400
    page = page_text(response)
    assert "Replace the 3 entries it covers" in page
    assert f'name="covered" value="{stale},{newcomer.pk}"' in page
    assert 'name="replace_covered" id="id_replace_covered">' in page  # unticked: agree again
    assert len(networks(organisation)) == 4


def test_ids_of_another_organisations_entries_replace_nothing(owner_client, organisation, owner, outsider, servers):
    theirs = add(outsider.organisation, outsider, "203.0.113.7", "Globex server")

    response = owner_client.post(
        "/whitelist/add/",
        {
            "network": "203.0.113.0/24",
            "description": "Office range",
            "covered": str(theirs.pk),
            "replace_covered": "on",
        },
    )

    assert response.status_code == 400
    assert networks(outsider.organisation) == ["203.0.113.7/32"]
    assert len(networks(organisation)) == 3


def test_at_the_maximum_the_list_points_to_replacing_with_a_range(owner_client, organisation, owner, settings):
    settings.WHITELIST_MAX_ENTRIES = 1
    add(organisation, owner, "203.0.113.7", "Server A")

    page = page_text(owner_client.get("/whitelist/"))

    assert '<a href="/whitelist/add/">add the range that holds several addresses</a>' in page
