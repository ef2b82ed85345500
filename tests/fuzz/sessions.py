"""Logged-in browsers for the fuzz tests, built inside an example when each needs a fresh one."""

import time

from django.test import Client

from accounts.models import User
from accounts.reauth import SESSION_KEY as REAUTHENTICATED_AT
from tests.conftest import log_in


def browser(user: User) -> Client:
    """A session of ``user`` past both login steps, that confirmed the password just now."""
    return confirm_password_now(log_in(Client(), user))


def confirm_password_now(client: Client) -> Client:
    """As if the password had just been typed again: pages behind "sudo mode" open directly."""
    session = client.session
    session[REAUTHENTICATED_AT] = time.time()
    session.save()
    return client
