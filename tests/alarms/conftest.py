"""Fixtures of the alarm tests: a hosts mapping instead of DNS, a receiver that checks signatures
as a customer would, and 5-minute usage counters."""

import socket
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
import responses

from alarms import addresses
from alarms.models import WebhookEndpoint
from tests.alarms.receiver import Receiver

REAL_GETADDRINFO = socket.getaddrinfo


class Hosts:
    """Names the tests resolve, like /etc/hosts; literal addresses and ``localhost`` go to the real
    resolver. Any other name does not resolve: no test reaches a DNS server."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}

    def __setitem__(self, name: str, addresses: list[str]) -> None:
        self.names[name] = addresses

    def getaddrinfo(self, host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        if host in self.names:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in self.names[host]
            ]
        if host == "localhost" or _is_literal(host):
            return REAL_GETADDRINFO(host, port, *args, **kwargs)  # type: ignore[arg-type]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _is_literal(host: str) -> bool:
    """An address the resolver reads without DNS, in any spelling it accepts ("2130706433", "0x7f000001")."""
    try:
        if ":" in host:
            socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
        else:
            socket.inet_aton(host)
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True)
def hosts(monkeypatch) -> Hosts:
    mapping = Hosts()
    mapping["hooks.acme.example"] = ["93.184.215.14"]
    monkeypatch.setattr(addresses.socket, "getaddrinfo", mapping.getaddrinfo)
    return mapping


HOOK_URL = "https://hooks.acme.example/portal"


@pytest.fixture
def endpoint(organisation) -> WebhookEndpoint:
    from django.utils import timezone

    return WebhookEndpoint.objects.create(
        organisation=organisation, url=HOOK_URL, secret="whsec_test-secret", secret_created_at=timezone.now()
    )


@pytest.fixture(autouse=True)
def outside_world() -> Iterator[responses.RequestsMock]:
    """The internet, as far as these tests go: a request to an address no test registered fails
    with a ConnectionError, as an unreachable host would. No test sends anything out."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def receiver(outside_world) -> Receiver:
    """The customer's receiver at HOOK_URL: answers what ``receiver.answers`` says (200 by default)
    and records each request with whether its signature verified (the README's recipe)."""
    return Receiver(outside_world, HOOK_URL)


@pytest.fixture
def slots(organisation) -> Callable[..., None]:
    """Put calls and errors in the 5-minute counters: ``slots(start, calls, errors, method=...)``."""
    from dashboard.models import FiveMinuteMethodCount, bucket_start

    def put(start: datetime, calls: int, errors: int, *, method: str = "Tokenize", org=None) -> None:
        row, _ = FiveMinuteMethodCount.objects.get_or_create(
            organisation=org or organisation, method=method, start=bucket_start(start)
        )
        row.calls += calls
        row.errors += errors
        row.save()

    return put
