"""Behind a proxy, the limits and the audit trail see the client (issue 14.4).

Without a trusted proxy configured, ``X-Forwarded-For`` is the client's own text and is ignored:
the login locks, the password-reset limit and the audit trail use ``REMOTE_ADDR``. With
``DJANGO_TRUSTED_PROXY_COUNT=1`` (or the proxy's address in ``DJANGO_TRUSTED_PROXIES``), the
client the proxy saw is the address, so two customers behind the proxy are two clients.
"""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import RequestFactory

from audit.models import AuditEvent
from common.ip import client_ip
from tests.conftest import page_text

PROXY = "10.0.0.2"  # the TLS proxy, as the portal sees it
ALICE = "198.51.100.10"
BOB = "198.51.100.20"
FORGED = "203.0.113.66"
REFUSED = "Too many password reset requests from your network in the last hour."


@pytest.fixture
def ask_for_reset(db, client, django_capture_on_commit_callbacks):
    def ask(*, remote: str, forwarded: str | None = None, email: str = "someone@acme.example"):
        headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/password/reset/", {"email": email}, REMOTE_ADDR=remote, **headers)

    return ask


def wrong_password(client, email: str, *, remote: str, forwarded: str | None = None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client.post("/login/", {"username": email, "password": "not-the-password"}, REMOTE_ADDR=remote, **headers)


def is_refused(response) -> bool:
    return response.status_code == 200 and REFUSED in page_text(response)


@pytest.fixture
def behind_one_proxy(settings):
    settings.AXES_IPWARE_PROXY_COUNT = 1


# --- No trusted proxy: the header is the client's own text -----------------------------------------


def test_default_trusts_no_proxy():
    assert settings.AXES_IPWARE_PROXY_COUNT is None
    assert settings.AXES_IPWARE_PROXY_TRUSTED_IPS is None


def test_without_a_trusted_proxy_a_forged_header_does_not_escape_the_reset_limit(ask_for_reset):
    for n in range(settings.PASSWORD_RESETS_PER_IP_PER_HOUR):
        assert ask_for_reset(remote=ALICE, forwarded=f"203.0.113.{n + 1}").status_code == 302

    assert is_refused(ask_for_reset(remote=ALICE, forwarded="203.0.113.200"))
    assert ask_for_reset(remote=BOB).status_code == 302


def test_without_a_trusted_proxy_a_forged_header_is_not_what_axes_and_the_trail_record(client, member):
    wrong_password(client, member.email, remote=ALICE, forwarded=FORGED)

    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [ALICE]
    assert list(AuditEvent.objects.filter(action="login.failed").values_list("ip_address", flat=True)) == [ALICE]


# --- One trusted proxy ----------------------------------------------------------------------------------


def test_behind_the_proxy_two_clients_have_their_own_reset_limit(behind_one_proxy, ask_for_reset):
    for _ in range(settings.PASSWORD_RESETS_PER_IP_PER_HOUR):
        assert ask_for_reset(remote=PROXY, forwarded=ALICE).status_code == 302

    assert is_refused(ask_for_reset(remote=PROXY, forwarded=ALICE))
    # Bob comes through the same proxy: not Alice's count.
    assert ask_for_reset(remote=PROXY, forwarded=BOB).status_code == 302
    # Alice writing Bob's address herself: the proxy appends the address it saw, hers.
    assert is_refused(ask_for_reset(remote=PROXY, forwarded=f"{BOB}, {ALICE}"))


def test_behind_the_proxy_axes_and_the_trail_record_the_client(behind_one_proxy, client, member, owner):
    wrong_password(client, member.email, remote=PROXY, forwarded=ALICE)
    wrong_password(client, owner.email, remote=PROXY, forwarded=f"{FORGED}, {BOB}")

    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == [ALICE, BOB]
    trail = dict(AuditEvent.objects.filter(action="login.failed").values_list("target_label", "ip_address"))
    assert trail == {member.email: ALICE, owner.email: BOB}


def test_behind_the_proxy_a_request_without_the_header_is_the_peer(behind_one_proxy, client, member):
    wrong_password(client, member.email, remote=ALICE)

    assert list(AuditEvent.objects.filter(action="login.failed").values_list("ip_address", flat=True)) == [ALICE]


# --- The helper itself ------------------------------------------------------------------------------


def ip_of(remote: str, forwarded: str | None = None) -> str | None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(request)


def test_no_trust_means_remote_addr():
    assert ip_of(ALICE, f"{FORGED}, {BOB}") == ALICE


def test_a_proxy_count_counts_from_the_right(settings):
    settings.AXES_IPWARE_PROXY_COUNT = 2  # a CDN, then the TLS proxy
    assert ip_of(PROXY, f"{FORGED}, {ALICE}, 192.0.2.50") == ALICE
    # Fewer hops than proxies: the request did not come through them all; trust nothing.
    assert ip_of(PROXY, ALICE) == PROXY
    assert ip_of(PROXY, "not-an-address") == PROXY


def test_a_trusted_proxy_list_is_believed_only_for_requests_from_those_proxies(settings):
    settings.AXES_IPWARE_PROXY_TRUSTED_IPS = ["10.0.0.0/8"]
    assert ip_of(PROXY, f"{FORGED}, {ALICE}") == ALICE
    # Straight to the portal, not through the proxy: the header is the client's own.
    assert ip_of(BOB, FORGED) == BOB


def test_ipv6_clients_behind_the_proxy(settings):
    settings.AXES_IPWARE_PROXY_COUNT = 1
    assert ip_of(PROXY, "2001:db8::1") == "2001:db8::1"
