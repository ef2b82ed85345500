"""The welcome email goes through Redis to a real Celery worker, as in production (SPEC §1, §2)."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.result import AsyncResult
from celery.signals import before_task_publish, task_prerun
from django.core import mail

from accounts.models import Role, User
from accounts.services import add_user
from portal.celery import app
from tests.celery_worker import thread_worker
from tests.factories import OrganisationFactory


@pytest.fixture
def worker(transactional_db) -> Iterator[Any]:
    with thread_worker() as worker:
        yield worker


@pytest.fixture
def task_events() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """What was published to the broker and what a worker started running, by task id."""
    events: dict[str, list[dict[str, Any]]] = {"published": [], "started": []}

    def on_publish(sender: str, headers: dict[str, Any], **kwargs: Any) -> None:
        events["published"].append({"task": sender, "id": headers["id"]})

    def on_prerun(task_id: str, task: Any, **kwargs: Any) -> None:
        events["started"].append(
            {
                "id": task_id,
                "eager": task.request.is_eager,
                "thread": threading.get_ident(),
                "queue": (task.request.delivery_info or {}).get("routing_key"),
            }
        )

    before_task_publish.connect(on_publish, weak=False)
    task_prerun.connect(on_prerun, weak=False)
    yield events
    before_task_publish.disconnect(on_publish)
    task_prerun.disconnect(on_prerun)


def wait_for(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_worker_sends_welcome_email_queued_through_redis(
    worker, task_events, django_capture_on_commit_callbacks, mailoutbox
):
    organisation = OrganisationFactory(name="Acme Payments Ltd")
    with django_capture_on_commit_callbacks(execute=True):
        user = add_user(
            organisation=organisation,
            email="new.admin@acme.example",
            full_name="Nina New",
            role=Role.ADMIN,
            acting_user=None,
        )

    published = [e for e in task_events["published"] if e["task"] == "accounts.tasks.send_welcome_email"]
    assert len(published) == 1, task_events
    task_id = published[0]["id"]

    # The result comes back through the Redis result backend, from the worker.
    assert AsyncResult(task_id, app=app).get(timeout=20) == "new.admin@acme.example"
    assert wait_for(lambda: len(mailoutbox) == 1)
    assert mailoutbox is mail.outbox
    assert mailoutbox[0].to == ["new.admin@acme.example"]
    assert "Temporary password:" in mailoutbox[0].body

    # It ran once, in the worker's thread, delivered from the broker's queue: not eagerly here.
    started = [e for e in task_events["started"] if e["id"] == task_id]
    assert len(started) == 1
    assert started[0]["eager"] is False
    assert started[0]["thread"] != threading.get_ident()
    assert started[0]["queue"] == app.conf.task_default_queue

    user = User.objects.get(pk=user.pk)
    assert user.temporary_password.startswith("argon2")
    assert user.temporary_password_expires_at is not None
