"""apikeys/check.py, the gateway's reference check, run against documents the portal really served."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from apikeys import check, services
from platform_api import services as platform_keys
from tests.apikeys.helpers import make_key, whitelist

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture
def platform(db) -> Client:
    _, plain = platform_keys.issue_key(name="gateway-eu", acting_user=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.fixture
def served(platform, organisation):
    """The keys and whitelist documents as the gateway fetches them, at a given moment."""

    def fetch(at: datetime = NOW) -> tuple[dict, dict]:
        with time_machine.travel(at, tick=False):
            keys = platform.get(f"/api/platform/v1/keys/{organisation.public_id}").json()
            listed = platform.get(f"/api/platform/v1/whitelist/{organisation.public_id}").json()
        return keys, listed

    return fetch


@pytest.fixture
def shop(organisation, owner):
    """A tokenize-only key from anywhere on the whitelist, and a detokenize-only one from two addresses."""
    whitelist(organisation, owner, "203.0.113.0/24", "2001:db8:4000::/48")
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        _, web = make_key(organisation, owner, "Web shop", methods=["Tokenize"])
        _, office = make_key(
            organisation, owner, "Back office", methods=["Detokenize"], addresses=["203.0.113.10", "2001:db8:4000::25"]
        )
    return {"web": web, "office": office}


def decide(served_documents, presented, method="Tokenize", source_ip="203.0.113.7", at=NOW, with_whitelist=True):
    keys, listed = served_documents
    return check.check_key(
        keys,
        presented=presented,
        method=method,
        source_ip=source_ip,
        now=at,
        whitelist_document=listed if with_whitelist else None,
    )


def test_a_key_is_allowed_for_its_functions_from_its_addresses(served, shop):
    documents = served()

    web = decide(documents, shop["web"], "Tokenize", "203.0.113.200")
    office = decide(documents, shop["office"], "Detokenize", "203.0.113.10")
    office_v6 = decide(documents, shop["office"], "Detokenize", "2001:db8:4000::25")

    assert (web.allowed, web.reason, web.name) == (True, check.OK, "Web shop")
    assert (office.allowed, office.name) == (True, "Back office")
    assert office_v6.allowed


def test_a_function_not_given_is_refused(served, shop):
    documents = served()

    assert decide(documents, shop["web"], "Detokenize").reason == check.METHOD_NOT_ALLOWED
    assert decide(documents, shop["office"], "Tokenize", "203.0.113.10").reason == check.METHOD_NOT_ALLOWED


def test_all_functions_means_any_function(served, organisation, owner, shop):
    _, everything = make_key(organisation, owner, "Everything", methods=["*"], now=NOW - timedelta(hours=1))

    assert decide(served(), everything, "SomeMethodAddedNextYear").allowed


@pytest.mark.parametrize(
    "source_ip",
    ["203.0.113.11", "198.51.100.7", "2001:db8:4000::26", "not an address", ""],
)
def test_an_address_outside_the_keys_addresses_is_refused(served, shop, source_ip):
    assert decide(served(), shop["office"], "Detokenize", source_ip).reason == check.ADDRESS_NOT_ALLOWED


def test_an_ipv4_mapped_caller_counts_as_its_ipv4_address(served, shop):
    assert decide(served(), shop["office"], "Detokenize", "::ffff:203.0.113.10").allowed


def test_the_whitelist_still_applies_to_a_key_without_addresses(served, shop):
    documents = served()

    assert decide(documents, shop["web"], source_ip="198.51.100.7").reason == check.ADDRESS_NOT_ALLOWED
    # Checked against the key alone, the same call passes: the whitelist is the other half.
    assert decide(documents, shop["web"], source_ip="198.51.100.7", with_whitelist=False).allowed


def test_a_key_narrows_the_whitelist_as_it_shrinks(served, organisation, owner, shop):
    from whitelist.models import WhitelistEntry
    from whitelist.services import remove_entry

    remove_entry(entry=WhitelistEntry.objects.get(network="203.0.113.0/24"), acting_user=owner)

    assert decide(served(), shop["office"], "Detokenize", "203.0.113.10").reason == check.ADDRESS_NOT_ALLOWED


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "nonsense",
        "ak_test_000000000000_" + "A" * 43,
        "Bearer ak_test",
        "ak__x_y",
    ],
)
def test_anything_but_a_known_secret_is_an_unknown_key(served, shop, presented):
    decision = decide(served(), presented)

    assert (decision.allowed, decision.reason, decision.name) == (False, check.UNKNOWN_KEY, None)


def test_a_known_prefix_with_a_wrong_secret_is_an_unknown_key(served, shop):
    prefix = check.prefix_of(shop["web"])
    assert prefix is not None
    forged = f"{prefix}_{'x' * 43}"

    decision = decide(served(), forged)

    assert (decision.allowed, decision.reason, decision.name) == (False, check.UNKNOWN_KEY, None)
    assert decide(served(), shop["web"] + "x").reason == check.UNKNOWN_KEY


def test_a_rolled_secret_works_through_its_overlap_and_then_stops_by_itself(served, organisation, owner, shop):
    from apikeys.models import ApiKey

    key = ApiKey.objects.get(name="Web shop")
    _, new = services.roll_key(key=key, overlap="1h", acting_user=owner, now=NOW)
    old = shop["web"]
    documents = served(NOW)  # one poll, then no more: the gateway ends the old secret on its own

    assert decide(documents, old, at=NOW + timedelta(minutes=59)).allowed
    assert decide(documents, new, at=NOW + timedelta(minutes=59)).allowed
    assert decide(documents, old, at=NOW + timedelta(hours=1)).reason == check.EXPIRED
    assert decide(documents, new, at=NOW + timedelta(days=30)).allowed
    # The next poll no longer lists it at all.
    assert decide(served(NOW + timedelta(hours=1)), old, at=NOW + timedelta(hours=1)).reason == check.UNKNOWN_KEY


def test_a_secret_is_not_valid_before_it_was_issued(served, shop):
    assert decide(served(), shop["web"], at=NOW - timedelta(days=2)).reason == check.NOT_YET_VALID


def test_an_expired_key_stops_by_itself(served, organisation, owner, shop):
    _, expiring = make_key(organisation, owner, "Trial", expires_on=(NOW + timedelta(days=1)).date(), now=NOW)
    documents = served(NOW)

    assert decide(documents, expiring, at=datetime(2026, 11, 26, 23, 59, tzinfo=UTC)).allowed
    assert decide(documents, expiring, at=datetime(2026, 11, 27, tzinfo=UTC)).reason == check.EXPIRED


def test_a_revoked_key_is_unknown_from_the_next_poll(served, owner, shop):
    from apikeys.models import ApiKey

    services.revoke_key(key=ApiKey.objects.get(name="Web shop"), acting_user=owner, now=NOW)

    assert decide(served(NOW), shop["web"]).reason == check.UNKNOWN_KEY


def test_the_check_compares_hashes_in_constant_time(served, shop, monkeypatch):
    documents = served()
    compared = []
    real = check.hmac.compare_digest
    monkeypatch.setattr(check.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))

    decide(documents, shop["web"])

    assert compared == [(check.hash_secret(shop["web"]), check.hash_secret(shop["web"]))]


def test_prefix_of_reads_only_the_portals_format():
    assert check.prefix_of("ak_test_0123456789ab_rest_with_underscores") == "ak_test_0123456789ab"
    assert check.prefix_of("ak_live_0123456789ab_x") == "ak_live_0123456789ab"
    assert check.prefix_of("ppk_0123_x_y") is None
    assert check.prefix_of("ak_test_0123456789ab") is None
