"""CreateKeyForm at /api-keys/add/ and RollKeyForm at /api-keys/<id>/roll/, posted by the organisation's admin."""

import ipaddress
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from apikeys.check import hash_secret
from apikeys.models import ApiKey, ApiKeySecret, Overlap, PlatformMethod
from apikeys.services import MAX_ACTIVE_KEYS
from audit.models import AuditEvent
from tests.apikeys.helpers import make_key, whitelist
from tests.fuzz.checks import assert_refused, counts, sent
from tests.fuzz.sessions import confirm_password_now
from tests.fuzz.strategies import DATE_LIKE, FUZZ, printable_text, submissions

WHITELISTED = [ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8:4000::/48")]
METHOD_NAMES = [m.value for m in PlatformMethod]
ADDRESS_LIKE = st.sampled_from(
    [
        "203.0.113.7",
        "203.0.113.7/24",
        "203.0.113.0/24",
        "198.51.100.7",
        "0.0.0.0/0",
        "::ffff:203.0.113.9",
        "2001:db8:4000::1%eth0",
        "127.0.0.1",
        "203.0.113.7\n203.0.113.7",
        "203.0.113.0/28, 203.0.113.9",
        "203.0.113.1 " * 150,
        "*",
        "Tokenize",
    ]
)
TRICKY = st.one_of(ADDRESS_LIKE, DATE_LIKE, st.sampled_from(["*", "all", "tokenize", "Tokenize ", "none", "1h", "7d"]))


@pytest.fixture
def listed(organisation, owner):
    whitelist(organisation, owner, *(str(n) for n in WHITELISTED))


def _today() -> date:
    return datetime.now(UTC).date()


@st.composite
def addresses(draw: st.DrawFn) -> str:
    """Distinct addresses inside the whitelist (none inside another), typed as a user would."""
    picked: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        inside = draw(st.sampled_from(WHITELISTED))
        offset = draw(st.integers(min_value=0, max_value=inside.num_addresses - 1))
        network = ipaddress.ip_network(inside.network_address + offset)
        if all(not network.overlaps(other) for other in picked):
            picked.append(network)
    typed = [draw(st.sampled_from([str(n.network_address), str(n), f" {n.network_address} "])) for n in picked]
    return draw(st.sampled_from(["\n", ", ", " ", "\r\n"])).join(typed)


@st.composite
def new_keys(draw: st.DrawFn) -> dict[str, object]:
    if draw(st.booleans()):
        methods: list[str] = ["*"]
    else:
        methods = sorted(draw(st.sets(st.sampled_from(METHOD_NAMES), min_size=1)))
    expiry = draw(st.none() | st.dates(min_value=_today() + timedelta(days=2)))
    return {
        "name": draw(printable_text),
        "methods": methods,
        "addresses": draw(addresses()),
        "expires_on": expiry.isoformat() if expiry else "",
    }


def _active_names(organisation) -> set[str]:
    keys = ApiKey.objects.filter(organisation=organisation, revoked_at__isnull=True)
    return set(keys.values_list("name", flat=True))


@FUZZ
@given(submission=submissions(new_keys(), tricky=TRICKY))
def test_any_new_key_is_stored_whole_or_refused_with_a_reason(owner, owner_client, organisation, listed, submission):
    confirm_password_now(owner_client)
    names = _active_names(organisation)
    name_taken = submission.pristine and str(submission.data["name"]).strip() in names
    full = len(names) >= MAX_ACTIVE_KEYS
    before = counts(ApiKey, ApiKeySecret, AuditEvent)

    response = submission.post(owner_client, "/api-keys/add/")

    after = counts(ApiKey, ApiKeySecret, AuditEvent)
    stored = response.status_code == 302 and response.url == "/api-keys/secret/"
    event("stored" if stored else "refused")
    if not stored:
        assert not submission.pristine or name_taken or full, "a valid, new key was refused"
        assert_refused(response)
        assert after == before
        return
    assert after == {label: count + 1 for label, count in before.items()}  # the key, its secret, its audit row
    key = ApiKey.objects.latest("created_at", "id")
    assert (key.organisation, key.created_by, key.environment) == (organisation, owner, "test")
    assert key.name == sent(response, "name").strip()
    chosen = response.wsgi_request.POST.getlist("methods")
    assert key.methods == (["*"] if "*" in chosen else [m for m in METHOD_NAMES if m in chosen])
    typed = [t for t in re.split(r"[\s,;]+", sent(response, "addresses")) if t]
    assert sorted(key.addresses) == sorted(str(ipaddress.ip_network(t)) for t in typed)
    expiry = sent(response, "expires_on")
    assert key.expires_at == (
        datetime.combine(date.fromisoformat(expiry), datetime.min.time(), UTC) if expiry else None
    )
    secret = re.search(r'data-testid="api-key-secret">([^<]+)<', owner_client.get("/api-keys/secret/").content.decode())
    assert secret and key.secrets.get().secret_hash == hash_secret(secret.group(1))


@pytest.fixture
def key(organisation, owner) -> ApiKey:
    return make_key(organisation, owner, "Web shop")[0]


@FUZZ
@given(submission=submissions({"overlap": Overlap.DAY.value}, tricky=TRICKY))
def test_any_roll_makes_one_new_secret_or_is_refused_with_a_reason(owner_client, key, submission):
    confirm_password_now(owner_client)
    current = key.secrets.order_by("-created_at", "-id").first()
    before = counts(ApiKeySecret, AuditEvent)

    response = submission.post(owner_client, f"/api-keys/{key.pk}/roll/")

    after = counts(ApiKeySecret, AuditEvent)
    rolled = response.status_code == 302 and response.url == "/api-keys/secret/"
    event("rolled" if rolled else "refused")
    if not rolled:
        assert not submission.pristine, "a valid roll was refused"
        assert_refused(response)
        assert after == before
        return
    assert after == {label: count + 1 for label, count in before.items()}
    assert sent(response, "overlap") in Overlap.values
    assert current is not None
    current.refresh_from_db()
    assert current.valid_until is not None  # the replaced secret ends (now, or after the overlap)
    assert key.secrets.order_by("-created_at", "-id").first().valid_until is None
