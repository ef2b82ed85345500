"""whitelist.services: every SPEC §5 rule with its message, nothing stored on bad input, audit and emails."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from tests.factories import AdminFactory, UserFactory
from tests.whitelist.helpers import add, grant_whitelist, networks
from whitelist import services
from whitelist.models import WhitelistEntry


@pytest.fixture
def refused(organisation, owner, django_capture_on_commit_callbacks):
    """Try an addition that must fail; check nothing was stored, audited or emailed; return the errors."""

    def attempt(raw: str, description: str = "Office", **kwargs) -> ValidationError:
        entries_before = list(WhitelistEntry.objects.order_by("pk").values_list("pk", "network"))
        audit_before = AuditEvent.objects.filter(action__startswith="whitelist.").count()
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as info:
            add(organisation, owner, raw, description, **kwargs)
        assert list(WhitelistEntry.objects.order_by("pk").values_list("pk", "network")) == entries_before
        assert AuditEvent.objects.filter(action__startswith="whitelist.").count() == audit_before
        assert mail.outbox == []
        return info.value

    return attempt


# --- What is a valid address or range ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("198.51.100.7", "198.51.100.7/32"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("  203.0.113.0/24 \n", "203.0.113.0/24"),
        ("203.0.113.0/255.255.255.0", "203.0.113.0/24"),
        ("10.20.0.0/16", "10.20.0.0/16"),
        ("2001:db8::7", "2001:db8::7/128"),
        ("2001:DB8:0:0::/48", "2001:db8::/48"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128"),
        ("::ffff:203.0.113.7", "203.0.113.7/32"),
        ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("172.16.0.0/16", "172.16.0.0/16"),
    ],
)
def test_address_is_stored_in_normalised_cidr_form(organisation, owner, raw, stored):
    entry = add(organisation, owner, raw)

    assert entry.network == stored
    assert networks(organisation) == [stored]


def test_description_is_trimmed(organisation, owner):
    entry = add(organisation, owner, "198.51.100.7", "  Batch job, Frankfurt  ")

    assert WhitelistEntry.objects.get(pk=entry.pk).description == "Batch job, Frankfurt"


@pytest.mark.parametrize(
    "raw",
    ["not-an-ip", "203.0.113.256", "1.2.3.4/33", "010.0.0.1", "2001:db8::g", "203.0.113.0/24/8", "203.0.113.0 /24"],
)
def test_invalid_address_is_refused_with_a_clear_message(refused, raw):
    error = refused(raw)

    assert error.message_dict == {
        "network": [
            f"“{raw}” is not an IPv4 or IPv6 address or range. "
            "Enter an address such as 203.0.113.7 or a range such as 203.0.113.0/24."
        ]
    }


def test_empty_address_is_refused(refused):
    assert refused("   ").message_dict == {"network": ["Enter an IPv4 or IPv6 address or range."]}


def test_very_long_input_is_refused_without_echoing_it(refused):
    error = refused("1" * 500)

    assert error.message_dict == {"network": ["That is not an IPv4 or IPv6 address or range: it is far too long."]}


@pytest.mark.parametrize(
    ("raw", "meant"),
    [
        ("203.0.113.5/24", "203.0.113.0/24"),
        ("2001:db8::1/48", "2001:db8::/48"),
        ("::ffff:203.0.113.5/120", "203.0.113.0/24"),
    ],
)
def test_range_with_host_bits_set_is_refused_with_the_range_it_probably_meant(refused, raw, meant):
    error = refused(raw)

    assert error.message_dict == {"network": [f"{raw} has host bits set; did you mean {meant}?"]}


@pytest.mark.parametrize("raw", ["fe80::1%eth0", "2001:db8::7%3"])
def test_zone_id_is_refused(refused, raw):
    error = refused(raw)

    assert error.message_dict == {
        "network": [
            f"“{raw}” has a zone id (the part from “%”): it only means something on one machine. "
            "Enter the address without it."
        ]
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("127.0.0.1", "127.0.0.1/32 is a loopback address"),
        ("::1", "::1/128 is a loopback address"),
        ("169.254.10.1", "169.254.10.1/32 is a link-local address"),
        ("fe80::/64", "fe80::/64 is a link-local address"),
        ("224.0.0.1", "224.0.0.1/32 is a multicast address"),
        ("0.0.0.0", "0.0.0.0/32 is the unspecified address"),
        ("::", "::/128 is the unspecified address"),
    ],
)
def test_addresses_no_request_can_come_from_are_refused(refused, raw, reason):
    [message] = refused(raw).message_dict["network"]

    assert message.startswith(reason)
    assert message.endswith("Enter the public address your servers call the platform from.")


# --- Description ------------------------------------------------------------------------------


@pytest.mark.parametrize("description", ["", "    "])
def test_description_is_required(refused, description):
    error = refused("198.51.100.7", description)

    assert error.message_dict == {
        "description": ["Add a description, so everyone knows what calls the API from this address."]
    }


def test_description_longer_than_200_characters_is_refused(refused):
    error = refused("198.51.100.7", "x" * 201)

    assert error.message_dict == {"description": ["Keep the description to 200 characters (it has 201)."]}


@pytest.mark.parametrize("description", ["Line one\nline two", "Tab\tseparated", "Nul\x00byte"])
def test_description_must_be_one_line_of_plain_text(refused, description):
    error = refused("198.51.100.7", description)

    assert error.message_dict == {"description": ["Keep the description to one line of plain text."]}


def test_description_of_exactly_200_characters_is_accepted(organisation, owner):
    assert len(add(organisation, owner, "198.51.100.7", "x" * 200).description) == 200


def test_both_fields_wrong_reports_both(refused):
    error = refused("nonsense", "")

    assert set(error.message_dict) == {"network", "description"}


# --- Duplicates and overlaps ------------------------------------------------------------------


def test_duplicate_is_refused(organisation, owner, refused):
    add(organisation, owner, "203.0.113.0/24", "Office")

    error = refused("203.0.113.0/24", "Office again")

    assert error.message_dict == {"network": ["203.0.113.0/24 is already on the whitelist (Office)."]}


@pytest.mark.parametrize("spelling", ["198.51.100.7", "198.51.100.7/32", "::ffff:198.51.100.7", " 198.51.100.7/32 "])
def test_duplicate_in_another_spelling_is_refused(organisation, owner, refused, spelling):
    add(organisation, owner, "198.51.100.7", "Batch job")

    error = refused(spelling)

    assert error.message_dict == {"network": ["198.51.100.7/32 is already on the whitelist (Batch job)."]}


@pytest.mark.parametrize(
    ("existing", "raw", "message"),
    [
        ("203.0.113.0/24", "203.0.113.7", "203.0.113.7/32 is already covered by 203.0.113.0/24 (Office)"),
        ("203.0.113.0/24", "203.0.113.128/25", "203.0.113.128/25 is already covered by 203.0.113.0/24 (Office)"),
        ("2001:db8::/48", "2001:db8:0:1::/64", "2001:db8:0:1::/64 is already covered by 2001:db8::/48 (Office)"),
    ],
)
def test_range_already_covered_by_an_entry_is_refused(organisation, owner, refused, existing, raw, message):
    add(organisation, owner, existing, "Office")

    error = refused(raw, "Something inside")

    assert error.message_dict == {"network": [f"{message}: it is allowed already."]}


def test_range_that_would_cover_an_entry_is_refused_naming_it(organisation, owner, refused):
    add(organisation, owner, "203.0.113.7", "Server A")

    error = refused("203.0.113.0/24", "Whole office")

    assert error.message_dict == {
        "network": [
            "203.0.113.0/24 would cover the existing entry 203.0.113.7/32 (Server A). "
            "Tick “Replace the entry it covers” to add 203.0.113.0/24 and remove it in one change "
            "(the addresses stay allowed throughout), or remove it first."
        ]
    }


def test_range_that_would_cover_several_entries_names_them(organisation, owner, refused):
    for n in range(1, 8):
        add(organisation, owner, f"203.0.113.{n}", f"Server {n}")
    add(organisation, owner, "198.51.100.7", "Elsewhere")

    [message] = refused("203.0.113.0/24").message_dict["network"]

    assert message == (
        "203.0.113.0/24 would cover the existing 7 entries 203.0.113.1/32 (Server 1), 203.0.113.2/32 (Server 2), "
        "203.0.113.3/32 (Server 3), 203.0.113.4/32 (Server 4), 203.0.113.5/32 (Server 5) and 2 more. "
        "Tick “Replace the 7 entries it covers” to add 203.0.113.0/24 and remove them in one change "
        "(the addresses stay allowed throughout), or remove them first."
    )


def test_same_range_in_another_organisation_does_not_count(organisation, owner, outsider):
    add(outsider.organisation, outsider, "203.0.113.0/24", "Globex office")
    add(outsider.organisation, outsider, "198.51.100.0/24", "Globex servers")

    add(organisation, owner, "203.0.113.0/24", "Acme office")
    add(organisation, owner, "198.51.100.7", "Acme batch job")

    assert networks(organisation) == ["198.51.100.7/32", "203.0.113.0/24"]
    assert networks(outsider.organisation) == ["198.51.100.0/24", "203.0.113.0/24"]


def test_ipv4_and_ipv6_entries_never_overlap(organisation, owner):
    add(organisation, owner, "203.0.113.0/24")
    add(organisation, owner, "2001:db8::/32")

    assert networks(organisation) == ["2001:db8::/32", "203.0.113.0/24"]


# --- Very broad ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ("10.0.0.0/8", "16,777,216 addresses"),
        ("172.16.0.0/15", "131,072 addresses"),
        ("0.0.0.0/0", "every IPv4 address on the internet"),
        ("::/0", "every IPv6 address on the internet"),
        ("2001:db8::/31", "more addresses than most providers hold in total"),
        ("::ffff:0:0/96", "every IPv4 address on the internet"),
    ],
)
def test_very_broad_range_needs_confirmation(organisation, owner, refused, raw, size):
    error = refused(raw, "Everything")

    network = services.parse_network(raw)
    assert error.message_dict == {
        "confirm_broad": [
            f"{network} is a very broad range: it allows {size} to call the API for your organisation. "
            "Tick “I understand this allows a very broad range” to add it anyway."
        ]
    }

    entry = add(organisation, owner, raw, "Everything", confirm_broad=True)

    assert networks(organisation) == [str(network)] == [entry.network]


@pytest.mark.parametrize("raw", ["172.16.0.0/16", "2001:db8::/32", "198.51.100.7"])
def test_ranges_at_the_threshold_need_no_confirmation(organisation, owner, raw):
    add(organisation, owner, raw)

    assert len(networks(organisation)) == 1


def test_confirmation_does_not_override_the_other_rules(organisation, owner, refused):
    add(organisation, owner, "203.0.113.0/24", "Office")

    error = refused("0.0.0.0/0", "Everything", confirm_broad=True)

    assert "0.0.0.0/0 would cover the existing entry 203.0.113.0/24 (Office)" in error.message_dict["network"][0]


# --- The per-organisation maximum ---------------------------------------------------------------


def test_maximum_of_100_entries_by_default(organisation, owner, refused):
    WhitelistEntry.objects.bulk_create(
        WhitelistEntry(organisation=organisation, network=f"198.51.{n // 250}.{n % 250}/32", description=f"Host {n}")
        for n in range(100)
    )

    error = refused("203.0.113.0/24")

    assert error.code == "limit"
    assert error.messages == [
        "Acme Payments Ltd already has 100 whitelist entries, the most allowed. Remove an entry first, "
        "or replace several addresses with the range that holds them."
    ]


def test_maximum_comes_from_the_setting_and_removing_makes_room(organisation, owner, outsider, refused, settings):
    settings.WHITELIST_MAX_ENTRIES = 2
    first = add(organisation, owner, "198.51.100.1")
    add(organisation, owner, "198.51.100.2")
    add(outsider.organisation, outsider, "198.51.100.3")
    add(outsider.organisation, outsider, "198.51.100.4")  # another organisation's entries do not count

    error = refused("198.51.100.5")
    assert "Acme Payments Ltd already has 2 whitelist entries, the most allowed." in error.messages[0]

    services.remove_entry(entry=first, acting_user=owner)
    add(organisation, owner, "198.51.100.5")

    assert networks(organisation) == ["198.51.100.2/32", "198.51.100.5/32"]


# --- Audit trail and emails to the admins -------------------------------------------------------


@pytest.fixture
def admins(organisation, owner):
    """The owner, a second active admin, and an admin who left (deactivated)."""
    second = AdminFactory(organisation=organisation, email="ada@acme.example", full_name="Ada Admin")
    AdminFactory(organisation=organisation, email="gone@acme.example", is_active=False)
    return [owner, second]


def test_addition_is_audited_and_emailed_to_every_active_admin(
    organisation, owner, member, admins, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        add(organisation, owner, "203.0.113.0/24", "Office, London")

    event = AuditEvent.objects.get(action="whitelist.added")
    assert event.target_label == "203.0.113.0/24"
    assert event.actor == owner
    assert event.organisation == organisation
    # The owner (the adder, unless another was chosen) and the expiry date are recorded with it.
    assert event.details == {"description": "Office, London", "owner": "owner@acme.example", "expires_on": None}

    assert sorted(m.to[0] for m in mail.outbox) == ["ada@acme.example", "owner@acme.example"]
    assert all(len(m.to) == 1 for m in mail.outbox)
    for message in mail.outbox:
        assert message.subject == "API whitelist of Acme Payments Ltd: 203.0.113.0/24 added"
        assert (
            "Olivia Owner (owner@acme.example) added 203.0.113.0/24 (Office, London) to the API IP whitelist "
            "of Acme Payments Ltd on " in message.body
        )
        assert "The platform will accept API calls for Acme Payments Ltd from this range." in message.body
        assert "The whitelist now holds 1 of 100 entries: http://127.0.0.1:8000/whitelist/" in message.body
    assert member.email not in [m.to[0] for m in mail.outbox]


def test_addition_by_a_granted_member_names_them_to_the_admins(
    organisation, member, admins, django_capture_on_commit_callbacks
):
    grant_whitelist(member)

    with django_capture_on_commit_callbacks(execute=True):
        add(organisation, member, "198.51.100.7", "Batch job")

    assert AuditEvent.objects.get(action="whitelist.added").actor == member
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@acme.example", "owner@acme.example"]
    assert "Max Member (member@acme.example) added 198.51.100.7/32 (Batch job)" in mail.outbox[0].body
    assert "from this address." in mail.outbox[0].body


def test_removal_is_audited_and_emailed_to_every_active_admin(
    organisation, owner, admins, django_capture_on_commit_callbacks
):
    entry = add(organisation, owner, "203.0.113.0/24", "Office")
    keep = add(organisation, owner, "198.51.100.7", "Batch job")
    second = admins[1]

    with django_capture_on_commit_callbacks(execute=True):
        services.remove_entry(entry=entry, acting_user=second)

    assert networks(organisation) == [keep.network]
    event = AuditEvent.objects.get(action="whitelist.removed")
    assert (event.target_label, event.actor, event.organisation) == ("203.0.113.0/24", second, organisation)
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@acme.example", "owner@acme.example"]
    for message in mail.outbox:
        assert message.subject == "API whitelist of Acme Payments Ltd: 203.0.113.0/24 removed"
        assert (
            "Ada Admin (ada@acme.example) removed 203.0.113.0/24 (Office) from the API IP whitelist of "
            "Acme Payments Ltd on " in message.body
        )
        assert "The platform will no longer accept API calls for Acme Payments Ltd from this range." in message.body
        assert "The whitelist now holds 1 of 100 entries" in message.body


def test_removing_an_entry_twice_reports_it_gone_and_audits_once(
    organisation, owner, django_capture_on_commit_callbacks
):
    entry = add(organisation, owner, "203.0.113.0/24")
    stale = WhitelistEntry.objects.get(pk=entry.pk)
    services.remove_entry(entry=entry, acting_user=owner)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as info:
        services.remove_entry(entry=stale, acting_user=owner)

    assert info.value.messages == ["203.0.113.0/24 is no longer on the whitelist."]
    assert AuditEvent.objects.filter(action="whitelist.removed").count() == 1
    assert mail.outbox == []


# --- Who may change it (checked again in the service) -------------------------------------------


def test_member_without_the_permission_cannot_add_or_remove(organisation, owner, member):
    entry = add(organisation, owner, "203.0.113.0/24")

    with pytest.raises(PermissionDenied):
        add(organisation, member, "198.51.100.7")
    with pytest.raises(PermissionDenied):
        services.remove_entry(entry=entry, acting_user=member)

    assert networks(organisation) == ["203.0.113.0/24"]


def test_admin_of_another_organisation_cannot_add_or_remove(organisation, owner, outsider):
    entry = add(organisation, owner, "203.0.113.0/24")

    with pytest.raises(PermissionDenied):
        add(organisation, outsider, "198.51.100.7")
    with pytest.raises(PermissionDenied):
        services.remove_entry(entry=entry, acting_user=outsider)

    assert networks(organisation) == ["203.0.113.0/24"]
    assert networks(outsider.organisation) == []


def test_deactivated_admin_cannot_add(organisation):
    former = AdminFactory(organisation=organisation, is_active=False)

    with pytest.raises(PermissionDenied):
        add(organisation, former, "198.51.100.7")

    assert networks(organisation) == []


def test_user_granted_the_permission_in_another_organisation_cannot_add_here(organisation, outsider):
    stranger = grant_whitelist(UserFactory(organisation=outsider.organisation))

    with pytest.raises(PermissionDenied):
        add(organisation, stranger, "198.51.100.7")

    assert networks(organisation) == []
