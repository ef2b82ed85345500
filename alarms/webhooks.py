"""The organisation's webhook: its HTTPS address and signing secret, and delivering events to it.

Every event is a JSON body posted with a ``Portal-Signature`` header in the form Stripe made
familiar, ``t=<unix time>,v1=<hex HMAC-SHA256>``: the HMAC, keyed with the endpoint's secret, is
over ``"<t>." + body``, so a receiver that checks the signature and that ``t`` is recent refuses
both forged and replayed requests (README "Webhooks" has the recipe; docs/security.md the threat
model). During the day after a rotation the previous secret signs too: a second ``v1=``.

A delivery is tried at once, then again on a 5xx or 429 answer, a timeout or a refused
connection, 30 seconds later and doubling, up to WEBHOOK_MAX_ATTEMPTS attempts (Celery's retry
with a countdown; the periodic task also resends any attempt that is overdue, so a lost message
loses nothing). Other answers are final: 2xx delivered, anything else failed. Before every
attempt the address is checked again (alarms.addresses) and the connection made to the checked
address (alarms.transport).
"""

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, User
from accounts.permissions import MANAGE_ALARMS, require
from accounts.selectors import active_admins
from alarms import addresses, transport
from alarms.models import AlarmEvent, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from audit.services import record
from common.mail import portal_url, queue_templated_email
from common.ratelimit import enforce_hourly_limit

SIGNATURE_HEADER = "Portal-Signature"
EVENT_ID_HEADER = "Portal-Event-Id"
EVENT_TYPE_HEADER = "Portal-Event-Type"
SECRET_PREFIX = "whsec_"
PREVIOUS_SECRET_VALID = timedelta(hours=24)
FIRST_RETRY_SECONDS = 30
LONGEST_WAIT_SECONDS = 60 * 60
TEST_EVENT = "webhook.test"
ADMINS_ONLY = "Only your organisation's admins can change its webhook."
NO_WEBHOOK = "Set up your webhook first."


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sign(*, body: bytes, timestamp: int, keys: list[str]) -> str:
    """The ``Portal-Signature`` value: ``t=<timestamp>`` and one ``v1=`` per key."""
    signed = f"{timestamp}.".encode() + body
    macs = [hmac.new(key.encode(), signed, hashlib.sha256).hexdigest() for key in keys]
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def signing_keys(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        keys.append(endpoint.previous_secret)
    return keys


def retry_wait(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` attempts: 30, 60, 120, ... at most an hour."""
    return int(min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LONGEST_WAIT_SECONDS))


# --- The endpoint --------------------------------------------------------------------------------


def _check_admin(acting_user: User | None, organisation_id: int) -> None:
    if acting_user is None:
        return
    require(acting_user, MANAGE_ALARMS, organisation_id=organisation_id)


def _by(acting_user: User | None) -> str:
    return f"{acting_user.full_name} ({acting_user.email})" if acting_user else "Support"


def _notify_admins(organisation: Organisation, *, change: str, url: str, acting_user: User | None) -> None:
    """Every admin hears of every change: events carry error details, and a new address receives them."""
    admins = active_admins(organisation_id=organisation.pk)
    for admin in admins:
        queue_templated_email(
            template="alarms/email/webhook_changed",
            subject=f"Alarm webhook of {organisation.name}: {change}",
            context={
                "admin": admin,
                "organisation": organisation,
                "change": change,
                "url": url,
                "by": _by(acting_user),
                "at": timezone.localtime(),
                "page_url": portal_url(reverse("alarm-webhook")),
            },
            to=[admin.email],
        )


def check_url(url: str) -> addresses.Target:
    """The URL checked now (HTTPS, public addresses only), or a ValidationError on ``url`` saying why."""
    try:
        return addresses.check(url)
    except addresses.UnsafeURL as exc:
        raise ValidationError({"url": ValidationError(str(exc), code="unsafe_url")}) from None


@transaction.atomic
def set_webhook(
    *, organisation: Organisation, url: str, acting_user: User | None
) -> tuple[WebhookEndpoint, str | None]:
    """Set the organisation's webhook address. Returns the endpoint and, when it is new, its secret
    (to show once); changing the address keeps the secret."""
    _check_admin(acting_user, organisation.pk)
    target = check_url(url)
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    endpoint = WebhookEndpoint.objects.filter(organisation=org).first()
    if endpoint is not None:
        if endpoint.url != target.url:
            previous, endpoint.url = endpoint.url, target.url
            endpoint.save(update_fields=["url", "updated_at"])
            record(action="webhook.changed", actor=acting_user, organisation=org, target=target.url, previous=previous)
            _notify_admins(org, change="address changed", url=target.url, acting_user=acting_user)
        return endpoint, None
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organisation=org, url=target.url, secret=secret, secret_created_at=timezone.now(), created_by=acting_user
    )
    record(action="webhook.added", actor=acting_user, organisation=org, target=target.url)
    _notify_admins(org, change="added", url=target.url, acting_user=acting_user)
    return endpoint, secret


@transaction.atomic
def rotate_secret(*, endpoint: WebhookEndpoint, acting_user: User | None, keep_previous: bool = True) -> str:
    """A new signing secret, returned to show once. With ``keep_previous`` the old one also signs
    for PREVIOUS_SECRET_VALID, while the receiver is switched; without it (a leaked secret) it
    stops at once."""
    _check_admin(acting_user, endpoint.organisation_id)
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    secret = new_secret()
    locked.previous_secret = locked.secret if keep_previous else ""
    locked.previous_secret_expires_at = now + PREVIOUS_SECRET_VALID if keep_previous else None
    locked.secret, locked.secret_created_at = secret, now
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "secret_created_at"])
    record(
        action="webhook.secret_rotated",
        actor=acting_user,
        organisation=locked.organisation,
        target=locked.url,
        previous_secret_valid_until=utc_iso(now + PREVIOUS_SECRET_VALID) if keep_previous else None,
    )
    _notify_admins(locked.organisation, change="signing secret rotated", url=locked.url, acting_user=acting_user)
    return secret


@transaction.atomic
def remove_webhook(*, endpoint: WebhookEndpoint, acting_user: User | None) -> None:
    """Stop posting events; deliveries still waiting to be retried fail when their turn comes."""
    _check_admin(acting_user, endpoint.organisation_id)
    deleted, _ = WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
    if not deleted:
        raise ValidationError("The webhook was removed a moment ago.", code="gone")
    record(action="webhook.removed", actor=acting_user, organisation=endpoint.organisation, target=endpoint.url)
    _notify_admins(endpoint.organisation, change="removed", url=endpoint.url, acting_user=acting_user)


# --- Events and deliveries ------------------------------------------------------------------------


def _body(*, event_id: str, event_type: str, organisation: Organisation, now: datetime, data: dict[str, Any]) -> str:
    document = {
        "id": event_id,
        "type": event_type,
        "created_at": utc_iso(now),
        "organisation": organisation.public_id,
        "data": data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def queue_event(
    *,
    organisation: Organisation,
    event_type: str,
    data: dict[str, Any],
    alarm_event: AlarmEvent | None = None,
    now: datetime | None = None,
) -> WebhookDelivery | None:
    """Store the event for the organisation's webhook and send it after commit; None without a webhook."""
    if not WebhookEndpoint.objects.filter(organisation=organisation).exists():
        return None
    now = now or timezone.now()
    event_id = f"evt_{uuid.uuid4().hex}"
    delivery = WebhookDelivery.objects.create(
        organisation=organisation,
        event_id=event_id,
        event_type=event_type,
        alarm_event=alarm_event,
        body=_body(event_id=event_id, event_type=event_type, organisation=organisation, now=now, data=data),
        created_at=now,
    )
    _send_after_commit(delivery.pk)
    return delivery


def _send_after_commit(delivery_id: int) -> None:
    from alarms.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery_id))


@transaction.atomic
def send_test_event(*, organisation: Organisation, acting_user: User) -> WebhookDelivery:
    """A test event, to see the receiver work; limited per organisation and hour (each is a request
    from our servers to an address the customer chose). Raises RateLimited or ValidationError."""
    _check_admin(acting_user, organisation.pk)
    if not WebhookEndpoint.objects.filter(organisation=organisation).exists():
        raise ValidationError(NO_WEBHOOK, code="no_webhook")
    enforce_hourly_limit(
        f"webhook-test-organisation:{organisation.pk}",
        settings.WEBHOOK_TESTS_PER_ORGANISATION_PER_HOUR,
        "test events from your organisation",
    )
    delivery = queue_event(
        organisation=organisation,
        event_type=TEST_EVENT,
        data={"message": "A test event from the API Platform Portal. Alarm events look like this, with an alarm."},
    )
    assert delivery is not None  # the endpoint exists: checked above, in this transaction
    record(action="webhook.test_sent", actor=acting_user, organisation=organisation, target=delivery.event_id)
    return delivery


def _stale_after() -> timedelta:
    """How long an attempt may look under way before it counts as lost (its worker died)."""
    return timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take the next attempt of a delivery, or None when it is done, not due, or under way elsewhere.

    One UPDATE decides, so two workers holding the same message (a redelivery, the sweep) make
    one attempt; a claim whose worker died is taken over once it is stale.
    """
    due = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    lost = Q(status=DeliveryStatus.SENDING, last_attempt_at__lt=now - _stale_after())
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .filter(due | lost)
        .update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=None)
    )
    return WebhookDelivery.objects.select_related("organisation").get(pk=delivery_id) if claimed else None


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def attempt_delivery(*, delivery_id: int, now: datetime | None = None) -> int | None:
    """Make the next attempt of a delivery. Returns the seconds to wait before retrying, or None
    when there is nothing more to do (delivered, failed for good, or not this caller's turn)."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    endpoint = WebhookEndpoint.objects.filter(organisation_id=delivery.organisation_id).first()
    if endpoint is None:
        _finish(delivery, DeliveryStatus.FAILED, now, error="The webhook was removed before this event was sent.")
        return None
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body=body, timestamp=int(now.timestamp()), keys=signing_keys(endpoint, now=now)),
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_TYPE_HEADER: delivery.event_type,
    }
    code: int | None = None
    try:
        sent = transport.post(url=endpoint.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    except addresses.Unresolvable as exc:
        retry, error = True, str(exc)
    except addresses.UnsafeURL as exc:
        # The name now resolves somewhere we never post to: no retry makes that safe.
        _finish(delivery, DeliveryStatus.FAILED, now, url=endpoint.url, error=f"Not sent: {exc}")
        return None
    except requests.Timeout:
        retry, error = True, f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS} seconds."
    except requests.ConnectionError as exc:
        retry, error = True, f"Could not connect: {exc.__class__.__name__}."
    except requests.RequestException as exc:
        retry, error = False, f"Not sent: {exc.__class__.__name__}."
    else:
        code = sent.status_code
        if 200 <= code < 300:
            _finish(delivery, DeliveryStatus.SUCCEEDED, now, url=endpoint.url, code=code)
            return None
        retry = code >= 500 or code == 429
        error = f"The receiver answered {code}." + (
            "" if retry else " Only 5xx and 429 answers are retried; redirects are not followed."
        )
    if retry and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        wait = retry_wait(delivery.attempts)
        _finish(
            delivery,
            DeliveryStatus.RETRYING,
            now,
            url=endpoint.url,
            code=code,
            error=error,
            next_at=now + timedelta(seconds=wait),
        )
        return wait
    if retry:
        error = f"Gave up after {delivery.attempts} attempts. {error}"
    _finish(delivery, DeliveryStatus.FAILED, now, url=endpoint.url, code=code, error=error)
    return None


def _finish(
    delivery: WebhookDelivery,
    status: DeliveryStatus,
    now: datetime,
    *,
    url: str = "",
    code: int | None = None,
    error: str = "",
    next_at: datetime | None = None,
) -> None:
    """Record how the claimed attempt ended (only if no other worker took the delivery over since)."""
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING, attempts=delivery.attempts).update(
        status=status,
        url=url or delivery.url,
        response_code=code,
        last_error=_short(error),
        next_attempt_at=next_at,
        delivered_at=now if status == DeliveryStatus.SUCCEEDED else None,
    )


def resend_overdue_deliveries(*, now: datetime | None = None) -> int:
    """Queue again every delivery whose attempt is overdue by a minute (its message was lost, or a
    worker died mid-attempt); the claim in ``attempt_delivery`` keeps it to one attempt."""
    now = now or timezone.now()
    late = now - timedelta(minutes=1)
    overdue = WebhookDelivery.objects.filter(
        Q(status=DeliveryStatus.PENDING, created_at__lt=late)
        | Q(status=DeliveryStatus.RETRYING, next_attempt_at__lt=late)
        | Q(status=DeliveryStatus.SENDING, last_attempt_at__lt=now - _stale_after())
    ).values_list("id", flat=True)[:1000]
    from alarms.tasks import deliver_webhook

    ids = list(overdue)
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)
