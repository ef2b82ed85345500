"""Support reads every organisation's whitelist in the admin; changes stay with the customer's admins."""

from tests.whitelist.helpers import add
from whitelist.models import WhitelistEntry


def test_support_sees_entries_per_organisation(support_client, organisation, owner, outsider):
    add(organisation, owner, "203.0.113.0/24", "Acme office")
    add(outsider.organisation, outsider, "198.51.100.0/24", "Globex office")

    everything = support_client.get("/admin/whitelist/whitelistentry/")
    acme_only = support_client.get(f"/admin/whitelist/whitelistentry/?organisation__id__exact={organisation.pk}")

    assert everything.status_code == acme_only.status_code == 200
    assert "Acme office" in everything.content.decode()
    assert "Globex office" in everything.content.decode()
    assert "Acme office" in acme_only.content.decode()
    assert "Globex office" not in acme_only.content.decode()


def test_support_cannot_add_change_or_delete_entries_in_the_admin(support_client, organisation, owner):
    entry = add(organisation, owner, "203.0.113.0/24", "Acme office")
    base = "/admin/whitelist/whitelistentry"

    assert support_client.get(f"{base}/add/").status_code == 403
    assert support_client.post(f"{base}/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    page = support_client.get(f"{base}/{entry.pk}/change/")
    assert page.status_code == 200
    assert 'name="description"' not in page.content.decode()  # read-only view
    support_client.post(f"{base}/{entry.pk}/change/", {"description": "Changed", "network": "0.0.0.0/0"})

    assert WhitelistEntry.objects.get(pk=entry.pk).network == "203.0.113.0/24"
    assert WhitelistEntry.objects.get(pk=entry.pk).description == "Acme office"


def test_customers_cannot_open_the_admin_list(owner_client):
    response = owner_client.get("/admin/whitelist/whitelistentry/")

    assert response.status_code in {302, 403}
    assert "Acme" not in response.content.decode()
