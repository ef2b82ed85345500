"""Celery tasks of the accounts app: thin wrappers that load ids and call a service."""

import smtplib

import requests
from celery import shared_task
from django.core.management import call_command
from twilio.base.exceptions import TwilioRestException

from accounts import services
from accounts.models import User
from accounts.sms import get_gateway
from portal.mail import deliver_email


@shared_task(acks_late=True)
def send_welcome_email(user_id: int, after_reset: bool = False) -> str:
    """Issue a fresh temporary password and email it; the plain password never leaves this task."""
    user = User.objects.select_related("organisation").get(pk=user_id)
    services.send_welcome_email(user=user, after_reset=after_reset)
    return user.email


class TransientSmsError(Exception):
    pass


@shared_task(
    # Twilio's client reaches the network through requests, whose connection errors and
    # timeouts are not the built-in ConnectionError and TimeoutError.
    autoretry_for=(
        TransientSmsError,
        ConnectionError,
        TimeoutError,
        requests.ConnectionError,
        requests.Timeout,
    ),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def send_sms(*, to: str, body: str) -> str:
    try:
        return get_gateway().send(to=to, body=body)
    except TwilioRestException as exc:
        # 429 and 5xx are the gateway's trouble and worth another try; 4xx are ours.
        if exc.status == 429 or exc.status >= 500:
            raise TransientSmsError(str(exc)) from exc
        raise


@shared_task(
    autoretry_for=(smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def send_email(*, subject: str, body: str, to: list[str], html: str = "") -> int:
    """One rendered message (portal.mail.queue_templated_email); ``html`` may be absent in
    messages queued by a version before it, during a rolling upgrade."""
    return deliver_email(subject=subject, body=body, html=html, to=to)


@shared_task
def clear_expired_sessions() -> None:
    call_command("clearsessions")
