"""The /whitelist/ pages: everyone in the organisation reads; admins and granted users change it."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import AdminFactory, UserFactory
from tests.whitelist.helpers import add, grant_whitelist, networks
from whitelist.models import WhitelistEntry


@pytest.fixture
def office(organisation, owner) -> WhitelistEntry:
    return add(organisation, owner, "203.0.113.0/24", "Office, London")


# --- Reading the list -------------------------------------------------------------------------


def test_member_sees_the_list_without_add_or_remove(member_client, office):
    response = member_client.get("/whitelist/")

    assert response.status_code == 200
    page = _page(response)
    assert "<code>203.0.113.0/24</code>" in page
    assert "Office, London" in page
    assert "Olivia Owner" in page
    assert "1 of 100 entries" in page
    assert 'action="/whitelist/add/"' not in page
    assert f"/whitelist/{office.pk}/remove/" not in page
    assert "Your organisation's admins, and users they allow to, can change the whitelist." in page


def test_owner_sees_the_add_form_and_remove_links(owner_client, office):
    page = _page(owner_client.get("/whitelist/"))

    assert 'action="/whitelist/add/"' in page
    assert "Address or range" in page
    assert f'href="/whitelist/{office.pk}/remove/"' in page


def test_empty_list_says_no_calls_are_accepted(member_client):
    page = _page(member_client.get("/whitelist/"))

    assert "No addresses yet" in page
    assert "0 of 100 entries" in page


def test_every_organisation_user_has_the_whitelist_in_the_navigation(member_client):
    page = _page(member_client.get("/"))

    assert 'href="/whitelist/"' in page


def test_list_never_shows_another_organisations_entries(owner_client, office, outsider):
    add(outsider.organisation, outsider, "198.51.100.0/24", "Globex secret servers")

    page = _page(owner_client.get("/whitelist/"))

    assert "<code>203.0.113.0/24</code>" in page
    assert "198.51.100.0/24" not in page
    assert "Globex secret servers" not in page


def test_outsider_never_sees_this_organisations_entries(outsider_client, office):
    page = _page(outsider_client.get("/whitelist/"))

    assert "<code>203.0.113.0/24</code>" not in page  # (the form's help text shows it as an example)
    assert "Office, London" not in page
    assert "0 of 100 entries" in page


def test_list_issues_the_same_number_of_queries_for_2_and_50_entries(owner_client, organisation, owner):
    def make(count: int) -> None:
        WhitelistEntry.objects.filter(organisation=organisation).delete()
        WhitelistEntry.objects.bulk_create(
            WhitelistEntry(
                organisation=organisation,
                network=f"198.51.100.{n}/32",
                description=f"Host {n}",
                added_by=AdminFactory.create(organisation=organisation) if n % 10 == 0 else owner,
            )
            for n in range(count)
        )

    owner_client.get("/whitelist/")  # warm up: session and per-process caches
    make(2)
    with CaptureQueriesContext(connection) as two:
        response = owner_client.get("/whitelist/")
    assert _page(response).count("/remove/") == 2

    make(50)
    with CaptureQueriesContext(connection) as fifty:
        response = owner_client.get("/whitelist/")
    assert _page(response).count("/remove/") == 50
    assert "50 of 100 entries" in _page(response)

    assert len(fifty) == len(two), "\n".join(q["sql"] for q in fifty.captured_queries)


def test_anonymous_visitor_is_sent_to_login(client, office):
    for url in ["/whitelist/", "/whitelist/add/", f"/whitelist/{office.pk}/remove/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url
    assert client.post(f"/whitelist/{office.pk}/remove/").status_code == 302
    assert WhitelistEntry.objects.filter(pk=office.pk).exists()


# --- Adding -----------------------------------------------------------------------------------


def test_owner_adds_an_address_and_sees_it_listed(
    owner_client, organisation, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/whitelist/add/", {"network": " 198.51.100.7 ", "description": "Batch job"})

    assert response.status_code == 302
    assert response["Location"] == "/whitelist/"
    entry = WhitelistEntry.objects.get(organisation=organisation)
    assert (entry.network, entry.description, entry.added_by) == ("198.51.100.7/32", "Batch job", owner)
    assert [m.to for m in mail.outbox] == [["owner@acme.example"]]
    page = _page(owner_client.get("/whitelist/"))
    assert "198.51.100.7/32 (you entered 198.51.100.7) is on the whitelist." in page
    assert "Batch job" in page


def test_member_granted_the_permission_can_add_and_remove(client, organisation, member, office):
    member_client = log_in(client, grant_whitelist(member))

    response = member_client.post("/whitelist/add/", {"network": "2001:db8::/48", "description": "IPv6 servers"})
    assert response.status_code == 302
    assert WhitelistEntry.objects.get(network="2001:db8::/48").added_by == member
    page = _page(member_client.get("/whitelist/"))
    assert 'action="/whitelist/add/"' in page
    assert f"/whitelist/{office.pk}/remove/" in page

    response = member_client.post(f"/whitelist/{office.pk}/remove/")
    assert response.status_code == 302
    assert networks(organisation) == ["2001:db8::/48"]


def test_add_page_shows_the_form(owner_client):
    response = owner_client.get("/whitelist/add/")

    assert response.status_code == 200
    assert "Add an address or range" in _page(response)
    assert "I understand this allows a very broad range" not in _page(response)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"network": "203.0.113.5/24", "description": "Office"}, "203.0.113.5/24 has host bits set; did you mean"),
        ({"network": "banana", "description": "Office"}, "is not an IPv4 or IPv6 address or range"),
        ({"network": "fe80::1%eth0", "description": "Office"}, "has a zone id"),
        ({"network": "198.51.100.7", "description": ""}, "Add a description, so everyone knows"),
        ({"network": "198.51.100.7", "description": "x" * 201}, "Keep the description to 200 characters"),
        ({}, "Enter an IPv4 or IPv6 address or range."),
        ({"network": "198.51.100.7", "description": "Batch\x00job"}, "Null characters are not allowed."),
        ({"network": "198.51.100.7", "description": "Batch\njob"}, "Keep the description to one line of plain text."),
    ],
)
def test_bad_input_shows_the_message_keeps_the_values_and_stores_nothing(owner_client, organisation, data, message):
    response = owner_client.post("/whitelist/add/", data)

    assert response.status_code == 400
    page = _page(response)
    assert message in page
    if data.get("network"):
        assert f'value="{data["network"]}"' in page
    assert networks(organisation) == []
    assert not AuditEvent.objects.filter(action="whitelist.added").exists()


def test_duplicate_and_covered_ranges_are_explained_on_the_page(owner_client, office):
    duplicate = owner_client.post("/whitelist/add/", {"network": "203.0.113.0/24", "description": "Again"})
    covered = owner_client.post("/whitelist/add/", {"network": "203.0.113.9", "description": "Inside"})

    assert duplicate.status_code == covered.status_code == 400
    assert "203.0.113.0/24 is already on the whitelist (Office, London)." in _page(duplicate)
    assert "203.0.113.9/32 is already covered by 203.0.113.0/24 (Office, London)" in _page(covered)
    assert WhitelistEntry.objects.count() == 1


def test_broad_range_asks_for_confirmation_and_keeps_what_was_typed(owner_client, organisation):
    first = owner_client.post("/whitelist/add/", {"network": "10.0.0.0/8", "description": "Corporate network"})

    assert first.status_code == 400
    page = _page(first)
    assert "10.0.0.0/8 is a very broad range: it allows 16,777,216 addresses" in page
    assert "I understand this allows a very broad range" in page
    assert 'name="confirm_broad"' in page
    assert 'value="10.0.0.0/8"' in page
    assert 'value="Corporate network"' in page
    assert networks(organisation) == []

    unticked = owner_client.post("/whitelist/add/", {"network": "10.0.0.0/8", "description": "Corporate network"})
    assert unticked.status_code == 400
    assert networks(organisation) == []

    confirmed = owner_client.post(
        "/whitelist/add/", {"network": "10.0.0.0/8", "description": "Corporate network", "confirm_broad": "on"}
    )
    assert confirmed.status_code == 302
    assert networks(organisation) == ["10.0.0.0/8"]


def test_at_the_maximum_the_form_is_gone_and_adding_is_refused(owner_client, organisation, settings):
    settings.WHITELIST_MAX_ENTRIES = 2
    owner = organisation.users.get()
    add(organisation, owner, "198.51.100.1")
    add(organisation, owner, "198.51.100.2")

    page = _page(owner_client.get("/whitelist/"))
    assert "2 of 2 entries" in page
    assert "The whitelist holds 2 entries, the most allowed." in page
    assert 'action="/whitelist/add/"' not in page

    response = owner_client.post("/whitelist/add/", {"network": "198.51.100.3", "description": "One more"})
    assert response.status_code == 400
    assert "Acme Payments Ltd already has 2 whitelist entries, the most allowed." in _page(response)
    assert len(networks(organisation)) == 2


@pytest.mark.parametrize("method", ["get", "post"])
def test_member_without_the_permission_gets_403_on_add_and_remove(member_client, office, method):
    data = {"network": "198.51.100.7", "description": "Sneaky"} if method == "post" else None

    for url in ["/whitelist/add/", f"/whitelist/{office.pk}/remove/"]:
        response = getattr(member_client, method)(url, data)
        assert response.status_code == 403, url
        assert "users they allow to manage the whitelist, can change it" in _page(response)

    assert list(WhitelistEntry.objects.values_list("network", flat=True)) == ["203.0.113.0/24"]


# --- Removing ---------------------------------------------------------------------------------


def test_remove_asks_for_confirmation_first(owner_client, office):
    response = owner_client.get(f"/whitelist/{office.pk}/remove/")

    assert response.status_code == 200
    page = _page(response)
    assert "Remove 203.0.113.0/24 from the whitelist?" in page
    assert "Office, London" in page
    assert "stops accepting API calls from this range" in page
    assert WhitelistEntry.objects.filter(pk=office.pk).exists()


def test_owner_removes_an_entry(owner_client, organisation, office, django_capture_on_commit_callbacks):
    AdminFactory(organisation=organisation, email="ada@acme.example")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/whitelist/{office.pk}/remove/", follow=True)

    assert response.status_code == 200
    assert "203.0.113.0/24 is no longer on the whitelist." in _page(response)
    assert networks(organisation) == []
    assert AuditEvent.objects.get(action="whitelist.removed").target_label == "203.0.113.0/24"
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@acme.example", "owner@acme.example"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_on_another_organisations_entry(
    outsider_client, office, method, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(outsider_client, method)(f"/whitelist/{office.pk}/remove/")

    assert response.status_code == 404
    assert WhitelistEntry.objects.filter(pk=office.pk).exists()
    assert not AuditEvent.objects.filter(action="whitelist.removed").exists()
    assert mail.outbox == []


def test_member_of_another_organisation_gets_404_not_403(client, office, outsider):
    stranger = UserFactory(organisation=outsider.organisation)

    response = log_in(client, stranger).post(f"/whitelist/{office.pk}/remove/")

    assert response.status_code == 404
    assert WhitelistEntry.objects.filter(pk=office.pk).exists()


def test_unknown_entry_is_404(owner_client, office):
    missing = office.pk + 1000

    assert owner_client.get(f"/whitelist/{missing}/remove/").status_code == 404
    assert owner_client.post(f"/whitelist/{missing}/remove/").status_code == 404
