"""Outgoing email: sent by a Celery task once the current transaction has committed."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction


def deliver_email(*, subject: str, body: str, to: list[str]) -> int:
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)


def queue_email(*, subject: str, body: str, to: list[str]) -> None:
    from accounts.tasks import send_email

    transaction.on_commit(lambda: send_email.delay(subject=subject, body=body, to=to))


def portal_url(path: str) -> str:
    return settings.PORTAL_BASE_URL + path
