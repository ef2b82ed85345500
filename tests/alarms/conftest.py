"""Fixtures of the alarm tests: a hosts mapping instead of DNS, no internet, a receiver that checks
signatures as a customer would, and 5-minute usage counters."""

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
import responses

from alarms.models import WebhookEndpoint
from tests.alarms.hosts import Hosts, use_hosts
from tests.alarms.receiver import Receiver


@pytest.fixture(autouse=True)
def hosts(monkeypatch) -> Hosts:
    return use_hosts(monkeypatch)


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
