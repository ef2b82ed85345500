"""Outgoing email: rendered from templates, sent by a Celery task once the transaction has committed.

Every email the portal sends is ``<template>.txt`` and ``<template>.html`` (each extending
``templates/email/base.txt`` / ``base.html``) rendered with the same context, sent as one
multipart/alternative message. Bodies are never assembled in code: wording lives in templates,
and the HTML part is autoescaped, so a name like ``<script>`` is text in every mail client.

A notice to several people is one message per address, so nobody learns who else got it (a
customer's colleagues, the other admins of an organisation, support's addresses).
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string


def portal_url(path: str) -> str:
    """An absolute link on PORTAL_BASE_URL: emails are read outside the portal."""
    return settings.PORTAL_BASE_URL + path


def render_email(*, template: str, subject: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The text and the HTML body of ``template`` (a path without extension)."""
    full = {
        "subject": subject,
        "portal_url": settings.PORTAL_BASE_URL,
        "support_email": settings.SUPPORT_EMAIL,
        **context,
    }
    return render_to_string(f"{template}.txt", full), render_to_string(f"{template}.html", full)


def deliver_email(*, subject: str, body: str, to: list[str], html: str = "") -> int:
    """Send one message now (the Celery task's work); the HTML, when given, as the alternative."""
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to)
    if html:
        message.attach_alternative(html, "text/html")
    return message.send()


def deliver_templated_email(*, template: str, subject: str, context: Mapping[str, Any], to: str) -> int:
    """Render and send at once, for work already running in a Celery task (the welcome email)."""
    body, html = render_email(template=template, subject=subject, context=context)
    return deliver_email(subject=subject, body=body, html=html, to=[to])


def queue_templated_email(*, template: str, subject: str, context: Mapping[str, Any], to: Iterable[str]) -> None:
    """Render now, with the data as this transaction sees it; send after commit, one message per address."""
    body, html = render_email(template=template, subject=subject, context=context)
    for address in dict.fromkeys(to):  # each address once, in the order given
        _queue(subject=subject, body=body, html=html, address=address)


def _queue(*, subject: str, body: str, html: str, address: str) -> None:
    from common.tasks import send_email

    transaction.on_commit(lambda: send_email.delay(subject=subject, body=body, html=html, to=[address]))
