"""Celery tasks that deliver mail and text messages.

They keep the names they had in ``accounts.tasks`` so that messages already queued under those
names still run after an upgrade.
"""

import smtplib

import requests
from celery import shared_task
from twilio.base.exceptions import TwilioRestException

from common.mail import deliver_email
from common.sms import get_gateway


class TransientSmsError(Exception):
    pass


@shared_task(
    name="accounts.tasks.send_sms",  # the name it was queued under before it moved here
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
    name="accounts.tasks.send_email",  # the name it was queued under before it moved here
    autoretry_for=(smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def send_email(*, subject: str, body: str, to: list[str], html: str = "") -> int:
    """One rendered message (common.mail.queue_templated_email); ``html`` may be absent in
    messages queued by a version before it, during a rolling upgrade."""
    return deliver_email(subject=subject, body=body, html=html, to=to)
