"""AddEntryForm at /whitelist/add/, posted by the organisation's admin."""

import ipaddress

from hypothesis import event, given
from hypothesis import strategies as st

from audit.models import AuditEvent
from tests.fuzz.checks import assert_refused, counts, sent
from tests.fuzz.strategies import FUZZ, printable_text, submissions
from whitelist.models import WhitelistEntry
from whitelist.services import BROAD_PREFIX

IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
NETWORK_LIKE = st.sampled_from(
    [
        "0.0.0.0/0",
        "::/0",
        "10.0.0.0/8",
        "203.0.113.7/24",
        "::ffff:203.0.113.0/120",
        "fe80::1%eth0",
        "127.0.0.1",
        "224.0.0.1",
        "169.254.1.1",
        "::1",
        "::",
        "1.2.3.4/33",
        "2001:db8::1/129",
        "1.2.3",
        "01.02.03.04",
        "\u0661.\u0661.\u0661.\u0661",
        "203.0.113.7\x00",
        "203.0.113.7/24/24",
        "203.0.113.7/-1",
        "203.0.113.7/+24",
        "203.0.113.7/ 24",
    ]
)


def _usable(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Where a request to the platform can come from (SPEC §5 refuses loopback and the like)."""
    special = network.is_loopback or network.is_link_local or network.is_multicast
    unspecified = network.prefixlen == network.max_prefixlen and network.network_address.is_unspecified
    mapped = network.version == 6 and network.subnet_of(IPV4_MAPPED)
    return not (special or unspecified or mapped)


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    # Public-looking space (IPv4 outside 0/8, 127/8, 169.254/16 and multicast; IPv6 global unicast),
    # so that most drawn entries are ones the whitelist accepts.
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    if version == 4:
        first = draw(st.integers(min_value=1, max_value=223).filter(lambda n: n not in (127, 169)))
        address = (first << 24) | draw(st.integers(min_value=0, max_value=2**24 - 1))
    else:
        address = (draw(st.integers(min_value=0x2000, max_value=0x3FFF)) << 112) | draw(
            st.integers(min_value=0, max_value=2**112 - 1)
        )
    # Mostly single addresses and small ranges, as customers enter them; now and then a broad one.
    prefix = bits - draw(st.integers(min_value=0, max_value=8) | st.integers(min_value=0, max_value=bits))
    return ipaddress.ip_network((address, prefix), strict=False)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, str]:
    network = draw(networks().filter(_usable))
    typed = draw(st.sampled_from([str(network), network.exploded, f"  {network}  ", str(network).upper()]))
    data = {"network": typed, "description": draw(printable_text)}
    if network.prefixlen < BROAD_PREFIX[network.version]:
        data["confirm_broad"] = "on"
    return data


def _meant(typed: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network typed, an IPv4-mapped IPv6 range read as the IPv4 range it stands for."""
    network = ipaddress.ip_network(typed.strip())
    if network.version == 6 and network.subnet_of(IPV4_MAPPED):
        mapped = network.network_address.ipv4_mapped
        return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    return network


def _overlaps_an_entry(typed: str) -> bool:
    network = ipaddress.ip_network(typed.strip())
    for stored in WhitelistEntry.objects.values_list("network", flat=True):
        other = ipaddress.ip_network(stored)
        if other.version == network.version and network.overlaps(other):
            return True
    return False


@FUZZ
@given(submission=submissions(entries(), tricky=NETWORK_LIKE))
def test_any_whitelist_submission_is_stored_whole_or_refused_with_a_reason(owner, owner_client, submission):
    overlaps = submission.pristine and _overlaps_an_entry(submission.data["network"])
    before = counts(WhitelistEntry, AuditEvent)

    response = submission.post(owner_client, "/whitelist/add/")

    after = counts(WhitelistEntry, AuditEvent)
    stored = response.status_code == 302 and response.url == "/whitelist/"
    event("stored" if stored else "refused")
    if stored:
        assert after == {key: count + 1 for key, count in before.items()}  # the entry and its audit row
        entry = WhitelistEntry.objects.latest("added_at", "id")
        assert ipaddress.ip_network(entry.network) == _meant(sent(response, "network"))
        assert entry.description == sent(response, "description").strip()
        assert entry.added_by == owner
    else:
        assert not submission.pristine or overlaps, "a valid, new entry was refused"
        assert_refused(response)
        assert after == before


# --- A range that replaces the entries it covers (issue 19) -------------------------------------


@st.composite
def replacements(draw: st.DrawFn) -> tuple[list[str], dict[str, str]]:
    """Addresses already listed inside a /24, and the form that replaces them with the /24."""
    third = draw(st.integers(min_value=0, max_value=255))
    inside = draw(st.sets(st.integers(min_value=0, max_value=255), min_size=1, max_size=4))
    listed = [f"203.0.{third}.{n}" for n in sorted(inside)]
    data = {
        "network": f"203.0.{third}.0/24",
        "description": draw(printable_text),
        "covered": "{covered}",
        "replace_covered": "on",
    }
    return listed, data


def _within(stored: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    other = ipaddress.ip_network(stored)
    return other.version == network.version and other.subnet_of(network)  # type: ignore[arg-type]


@FUZZ
@given(case=replacements(), data=st.data())
def test_a_replacement_is_stored_whole_or_not_at_all(organisation, owner, owner_client, case, data):
    listed, valid = case
    WhitelistEntry.objects.filter(organisation=organisation).delete()
    elsewhere = WhitelistEntry.objects.create(organisation=organisation, network="198.51.100.7/32", description="Other")
    covered = [
        WhitelistEntry.objects.create(organisation=organisation, network=f"{address}/32", description="Server")
        for address in listed
    ]
    submission = data.draw(submissions(valid, tricky=NETWORK_LIKE)).filled(
        covered=",".join(str(entry.pk) for entry in covered)
    )
    before = sorted(WhitelistEntry.objects.filter(organisation=organisation).values_list("network", flat=True))
    audit_before = counts(AuditEvent)

    response = submission.post(owner_client, "/whitelist/add/")

    after = sorted(WhitelistEntry.objects.filter(organisation=organisation).values_list("network", flat=True))
    stored = response.status_code == 302 and response.url == "/whitelist/"
    event("replaced" if stored else "refused")
    if stored:
        # The entries the new range covers went, in the same change as the range came; no other.
        new = _meant(sent(response, "network"))
        kept = [n for n in before if not _within(n, new)]
        assert after == sorted([*kept, str(new)])
        assert elsewhere.network in after
        assert counts(AuditEvent)["audit.AuditEvent"] == audit_before["audit.AuditEvent"] + 1
    else:
        assert not submission.pristine, "an agreed replacement was refused"
        assert_refused(response)
        assert after == before
        assert counts(AuditEvent) == audit_before


# --- Editing an entry's description, owner and expiry date (issue 16) ---------------------------

DATE_LIKE = st.sampled_from(
    ["2026-02-30", "1900-01-01", "0001-01-01", "9999-12-31", "2026-12-3", "03/12/2026", "today", "-1", "2026-13-01"]
)


@FUZZ
@given(data=st.data())
def test_an_edit_is_stored_whole_or_refused_with_a_reason(organisation, owner, member, outsider, owner_client, data):
    import datetime as dt

    from django.utils import timezone

    WhitelistEntry.objects.filter(organisation=organisation).delete()
    entry = WhitelistEntry.objects.create(
        organisation=organisation, network="203.0.113.0/24", description="Office", owner=owner, added_by=owner
    )
    days = data.draw(st.integers(min_value=1, max_value=3650) | st.just(0))
    valid = {
        "description": data.draw(printable_text),
        "owner": str(data.draw(st.sampled_from([owner.pk, member.pk]))),
        "expires_on": "" if days == 0 else (timezone.localdate() + dt.timedelta(days=days)).isoformat(),
    }
    tricky = DATE_LIKE | st.sampled_from([str(outsider.pk), "0", "-1", "99999999999999999999", "1e3"])
    submission = data.draw(submissions(valid, tricky=tricky))
    before = (entry.description, entry.owner_id, entry.expires_on, entry.network)
    audit_before = counts(AuditEvent)

    response = submission.post(owner_client, f"/whitelist/{entry.pk}/edit/")

    entry.refresh_from_db()
    after = (entry.description, entry.owner_id, entry.expires_on, entry.network)
    stored = response.status_code == 302 and response.url == "/whitelist/"
    event("stored" if stored else "refused")
    if stored:
        assert entry.network == "203.0.113.0/24"
        assert entry.description == sent(response, "description").strip()
        assert entry.owner is not None and entry.owner.organisation_id == organisation.pk and entry.owner.is_active
        assert entry.expires_on is None or entry.expires_on > timezone.localdate()
        changed = after != before
        assert counts(AuditEvent)["audit.AuditEvent"] == audit_before["audit.AuditEvent"] + int(changed)
    else:
        assert not submission.pristine, "a valid edit was refused"
        assert_refused(response)
        assert after == before
        assert counts(AuditEvent) == audit_before
