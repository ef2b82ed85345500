"""The webhook: its address and secret, and delivering events (signed, retried, logged, SSRF-checked).

The receiver (tests/alarms/receiver.py) checks every signature with the README's recipe, as a
customer would; ``responses`` stands in for the internet between us and it.
"""

import re
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import requests
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from alarms import webhooks
from alarms.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from alarms.tasks import evaluate_alarms
from audit.models import AuditEvent
from common.ratelimit import RateLimited
from tests.alarms.conftest import HOOK_URL
from tests.alarms.receiver import verify_portal_signature
from tests.factories import OrganisationFactory, UserFactory
from tests.race import race

# --- The address and the secret ------------------------------------------------------------------------


def test_setting_up_the_webhook_makes_a_secret_to_show_once_and_tells_every_admin(
    organisation, owner, member, django_capture_on_commit_callbacks
):
    other_admin = UserFactory.create(organisation=organisation, role="admin", email="ada@acme.example")

    with django_capture_on_commit_callbacks(execute=True):
        endpoint, secret = webhooks.set_webhook(
            organisation=organisation, url=" https://Hooks.Acme.example/portal ", acting_user=owner
        )

    assert endpoint.url == HOOK_URL
    assert secret is not None and re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
    assert endpoint.secret == secret
    assert sorted(m.to[0] for m in mail.outbox) == [other_admin.email, owner.email]  # admins, not the member
    assert mail.outbox[0].subject == "Alarm webhook of Acme Payments Ltd: added"
    assert secret not in mail.outbox[0].body
    event = AuditEvent.objects.get(action="webhook.added")
    assert (event.actor, event.target_label) == (owner, HOOK_URL)
    assert secret not in str(event.details)


def test_changing_the_address_keeps_the_secret(organisation, owner, hosts):
    hosts["new.acme.example"] = ["93.184.215.15"]
    endpoint, secret = webhooks.set_webhook(organisation=organisation, url=HOOK_URL, acting_user=owner)

    again, none = webhooks.set_webhook(organisation=organisation, url="https://new.acme.example/in", acting_user=owner)

    assert none is None
    assert (again.pk, again.secret, again.url) == (endpoint.pk, secret, "https://new.acme.example/in")
    assert AuditEvent.objects.get(action="webhook.changed").details == {"previous": HOOK_URL}


def test_an_address_inside_our_network_is_refused_when_saved(organisation, owner, hosts):
    hosts["internal.acme.example"] = ["10.20.30.40"]

    for url in ("https://internal.acme.example/hook", "https://169.254.169.254/", "http://hooks.acme.example/"):
        with pytest.raises(ValidationError) as refused:
            webhooks.set_webhook(organisation=organisation, url=url, acting_user=owner)
        assert list(refused.value.message_dict) == ["url"]

    assert not WebhookEndpoint.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="webhook.").exists()


def test_only_admins_of_the_organisation_change_the_webhook(organisation, owner, member, outsider, endpoint):
    for person in (member, outsider):
        with pytest.raises(PermissionDenied):
            webhooks.set_webhook(organisation=organisation, url=HOOK_URL, acting_user=person)
        with pytest.raises(PermissionDenied):
            webhooks.rotate_secret(endpoint=endpoint, acting_user=person)
        with pytest.raises(PermissionDenied):
            webhooks.remove_webhook(endpoint=endpoint, acting_user=person)
        with pytest.raises(PermissionDenied):
            webhooks.send_test_event(organisation=organisation, acting_user=person)
    endpoint.refresh_from_db()
    assert endpoint.secret == "whsec_test-secret"


def test_after_a_rotation_both_secrets_sign_for_a_day_then_only_the_new_one(
    owner, endpoint, receiver, django_capture_on_commit_callbacks
):
    new = webhooks.rotate_secret(endpoint=endpoint, acting_user=owner)
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (new, "whsec_test-secret")
    assert AuditEvent.objects.get(action="webhook.secret_rotated").details["previous_secret_valid_until"]

    send = partial(webhooks.queue_event, organisation=endpoint.organisation, event_type="webhook.test", data={})
    with django_capture_on_commit_callbacks(execute=True):
        send()
    old_receiver_accepts = receiver.received[-1].verified  # still configured with the old secret
    receiver.secret = new
    with django_capture_on_commit_callbacks(execute=True):
        send()
    new_receiver_accepts = receiver.received[-1].verified
    header = receiver.received[-1].headers["Portal-Signature"]

    assert old_receiver_accepts and new_receiver_accepts
    assert len(re.findall(r"v1=[0-9a-f]{64}", header)) == 2
    tomorrow = timezone.now() + timedelta(hours=24, seconds=1)
    assert webhooks.signing_keys(endpoint, now=tomorrow) == [new]


def test_a_leaked_secret_stops_signing_at_once(owner, endpoint, receiver, django_capture_on_commit_callbacks):
    new = webhooks.rotate_secret(endpoint=endpoint, acting_user=owner, keep_previous=False)

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.queue_event(organisation=endpoint.organisation, event_type="webhook.test", data={})

    [request] = receiver.received
    assert not request.verified  # the receiver still holds the old secret
    assert verify_portal_signature(new, request.headers["Portal-Signature"], request.body)
    assert request.headers["Portal-Signature"].count("v1=") == 1


def test_removing_the_webhook_fails_its_pending_deliveries(owner, endpoint, receiver):
    delivery = webhooks.queue_event(organisation=endpoint.organisation, event_type="webhook.test", data={})
    assert delivery is not None
    webhooks.remove_webhook(endpoint=endpoint, acting_user=owner)

    assert webhooks.attempt_delivery(delivery_id=delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_error == "The webhook was removed before this event was sent."
    assert receiver.received == []
    assert AuditEvent.objects.get(action="webhook.removed").target_label == HOOK_URL


# --- Delivering --------------------------------------------------------------------------------------


def _test_delivery(endpoint) -> WebhookDelivery:
    delivery = webhooks.queue_event(organisation=endpoint.organisation, event_type="webhook.test", data={"n": 1})
    assert delivery is not None
    return delivery


def test_a_test_event_is_signed_and_delivered(owner, endpoint, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhooks.send_test_event(organisation=endpoint.organisation, acting_user=owner)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.url) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
        HOOK_URL,
    )
    assert delivery.delivered_at is not None
    [request] = receiver.received
    assert request.verified
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Portal-Event-Id"] == delivery.event_id == request.event["id"]
    assert request.headers["Host"] == "hooks.acme.example"
    assert request.event["type"] == "webhook.test"
    assert AuditEvent.objects.get(action="webhook.test_sent").target_label == delivery.event_id


def test_a_tampered_body_or_an_old_timestamp_fails_the_recipe(owner, endpoint, receiver):
    delivery = _test_delivery(endpoint)
    webhooks.attempt_delivery(delivery_id=delivery.pk)
    [request] = receiver.received
    header, body = request.headers["Portal-Signature"], request.body
    sent_at = int(header.split(",")[0].removeprefix("t="))

    assert verify_portal_signature("whsec_test-secret", header, body, now=sent_at + 299)
    assert not verify_portal_signature("whsec_test-secret", header, body, now=sent_at + 301)  # a replay
    assert not verify_portal_signature("whsec_test-secret", header, body.replace(b'"n":1', b'"n":2'), now=sent_at)
    assert not verify_portal_signature("whsec_other", header, body, now=sent_at)
    assert not verify_portal_signature("whsec_test-secret", header.replace("t=", "t=1"), body, now=sent_at)
    assert not verify_portal_signature("whsec_test-secret", "t=²³,v1=00", body)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (500, "The receiver answered 500."),
        (503, "The receiver answered 503."),
        (429, "The receiver answered 429."),
        (requests.ConnectTimeout(), "No answer within 10 seconds."),
        (requests.ReadTimeout(), "No answer within 10 seconds."),
        (requests.ConnectionError(), "Could not connect: ConnectionError."),
    ],
)
def test_server_errors_and_timeouts_are_retried_with_a_doubling_wait(endpoint, receiver, answer, error):
    receiver.answers = [answer, answer, 200]
    delivery = _test_delivery(endpoint)
    start = timezone.now()

    waits = [webhooks.attempt_delivery(delivery_id=delivery.pk, now=start)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.RETRYING, 1, error)
    assert delivery.next_attempt_at == start + timedelta(seconds=30)
    assert webhooks.attempt_delivery(delivery_id=delivery.pk, now=start + timedelta(seconds=29)) is None  # not due
    receiver.clock = lambda: (start + timedelta(seconds=30)).timestamp()
    waits.append(webhooks.attempt_delivery(delivery_id=delivery.pk, now=start + timedelta(seconds=30)))
    receiver.clock = lambda: (start + timedelta(seconds=90)).timestamp()
    waits.append(webhooks.attempt_delivery(delivery_id=delivery.pk, now=start + timedelta(seconds=90)))

    assert waits == [30, 60, None]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.last_error) == (
        DeliveryStatus.SUCCEEDED,
        3,
        200,
        "",
    )
    assert [r.verified for r in receiver.received] == [True, True, True]


@pytest.mark.parametrize("code", [400, 401, 404, 410, 301, 302, 307])
def test_other_answers_are_final(endpoint, receiver, code):
    receiver.answers = [code]
    delivery = _test_delivery(endpoint)

    assert webhooks.attempt_delivery(delivery_id=delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.FAILED, 1, code)
    assert delivery.last_error == (
        f"The receiver answered {code}. Only 5xx and 429 answers are retried; redirects are not followed."
    )
    assert len(receiver.received) == 1


def test_it_gives_up_after_the_last_attempt(endpoint, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answers = [502]
    delivery = _test_delivery(endpoint)
    at = timezone.now()
    waits = []
    for _ in range(4):
        receiver.clock = lambda moment=at: moment.timestamp()
        waits.append(webhooks.attempt_delivery(delivery_id=delivery.pk, now=at))
        at += timedelta(hours=1)

    assert waits == [30, 60, None, None]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert delivery.last_error == "Gave up after 3 attempts. The receiver answered 502."
    assert webhooks.retry_wait(20) == 3600  # the wait never passes an hour


def test_the_address_is_checked_again_before_sending_so_dns_rebinding_reaches_nothing(
    organisation, owner, hosts, receiver
):
    """Public when saved; the name's owner then points it at our network: nothing is sent there."""
    webhooks.set_webhook(organisation=organisation, url=HOOK_URL, acting_user=owner)
    hosts["hooks.acme.example"] = ["127.0.0.1"]
    delivery = _test_delivery(WebhookEndpoint.objects.get())

    assert webhooks.attempt_delivery(delivery_id=delivery.pk) is None

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == (
        "Not sent: hooks.acme.example resolves to 127.0.0.1, which is a loopback address. "
        "Webhooks are only sent to public internet addresses."
    )
    assert receiver.received == []  # no request left the portal


def test_a_name_that_stops_resolving_is_retried(endpoint, hosts, receiver):
    del hosts.names["hooks.acme.example"]
    delivery = _test_delivery(endpoint)

    assert webhooks.attempt_delivery(delivery_id=delivery.pk) == 30

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert "hooks.acme.example does not resolve to any address" in delivery.last_error


def test_one_attempt_at_a_time_even_when_the_message_arrives_twice(endpoint, receiver):
    delivery = _test_delivery(endpoint)
    now = timezone.now()
    webhooks.attempt_delivery(delivery_id=delivery.pk, now=now)
    webhooks.attempt_delivery(delivery_id=delivery.pk, now=now)

    assert len(receiver.received) == 1


def test_an_attempt_whose_worker_died_is_taken_over_once_stale(endpoint, receiver, settings):
    delivery = _test_delivery(endpoint)
    lost_at = timezone.now() - timedelta(minutes=5)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, attempts=1, last_attempt_at=lost_at
    )

    assert webhooks.attempt_delivery(delivery_id=delivery.pk, now=lost_at + timedelta(seconds=30)) is None  # under way
    assert receiver.received == []
    assert webhooks.attempt_delivery(delivery_id=delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)


def test_the_periodic_task_resends_overdue_attempts(endpoint, receiver):
    delivery = _test_delivery(endpoint)  # queued, but its message never ran
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(minutes=2))

    assert evaluate_alarms.delay().get()["resent"] == 1

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert evaluate_alarms.delay().get()["resent"] == 0


def test_test_events_are_limited_per_organisation_and_hour(owner, endpoint, settings):
    settings.WEBHOOK_TESTS_PER_ORGANISATION_PER_HOUR = 2
    colleague = UserFactory.create(organisation=owner.organisation, role="admin")
    webhooks.send_test_event(organisation=endpoint.organisation, acting_user=owner)
    webhooks.send_test_event(organisation=endpoint.organisation, acting_user=colleague)

    with pytest.raises(RateLimited, match=r"Too many test events from your organisation in the last hour\."):
        webhooks.send_test_event(organisation=endpoint.organisation, acting_user=owner)

    assert WebhookDelivery.objects.count() == 2


def test_no_test_event_without_a_webhook(organisation, owner):
    with pytest.raises(ValidationError, match=r"Set up your webhook first\."):
        webhooks.send_test_event(organisation=organisation, acting_user=owner)


@pytest.mark.postgres
@pytest.mark.redis
def test_the_test_event_limit_holds_when_requests_race(transactional_db, settings):
    from django.test import Client

    from tests.conftest import log_in

    settings.WEBHOOK_TESTS_PER_ORGANISATION_PER_HOUR = 3
    organisation = OrganisationFactory.create()
    admins = [UserFactory.create(organisation=organisation, role="admin") for _ in range(3)]
    WebhookEndpoint.objects.create(
        organisation=organisation, url=HOOK_URL, secret="whsec_x", secret_created_at=datetime.now(UTC)
    )
    clients = [log_in(Client(), admin) for admin in admins for _ in range(4)]

    responses_, errors = race([partial(c.post, "/alarms/webhook/test/") for c in clients])

    assert not errors, errors
    assert sorted(r.status_code for r in responses_) == [302] * 3 + [429] * 9
    assert WebhookDelivery.objects.count() == 3
