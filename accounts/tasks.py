"""Celery tasks of the accounts app: thin wrappers that load ids and call a service."""

from celery import shared_task
from django.core.management import call_command

from accounts import services
from accounts.models import User

# Moved to common.tasks (the bottom layer), still registered under their old names
# "accounts.tasks.send_sms" / "accounts.tasks.send_email"; importable from here as before.
from common.tasks import send_email, send_sms

__all__ = ["clear_expired_sessions", "send_email", "send_sms", "send_welcome_email"]


@shared_task(acks_late=True)
def send_welcome_email(user_id: int, after_reset: bool = False) -> str:
    """Issue a fresh temporary password and email it; the plain password never leaves this task."""
    user = User.objects.select_related("organisation").get(pk=user_id)
    services.send_welcome_email(user=user, after_reset=after_reset)
    return user.email


@shared_task
def clear_expired_sessions() -> None:
    call_command("clearsessions")
