"""The Celery application. Tasks run in-process by default and through Redis when REDIS_URL is set.

Logging: the worker and beat use the portal's LOGGING (JSON lines, request ids) instead of Celery's
own format; a failing task is logged by ``celery.app.trace`` with its traceback. A task queued
while a request is handled carries that request's id in a message header, and the worker puts it
back in the context for the task's duration, so the task's log lines name the request.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun
from django.conf import settings
from django.utils.log import configure_logging

from portal.observability import TASK_REQUEST_ID_HEADER, request_id_var, sane_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_portal_logging(**kwargs: Any) -> None:
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


@before_task_publish.connect
def send_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = request_id_var.get()
    if request_id is not None and headers is not None:
        headers.setdefault(TASK_REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def restore_request_id(task: Any = None, **kwargs: Any) -> None:
    if task is None:
        return
    request_id = sane_request_id(getattr(task.request, TASK_REQUEST_ID_HEADER, None))
    # An eager task runs inside the view and already sees its id; note what to put back afterwards.
    task.request.portal_previous_request_id = request_id_var.get()
    if request_id is not None:
        request_id_var.set(request_id)


@task_postrun.connect
def clear_request_id(task: Any = None, **kwargs: Any) -> None:
    if task is not None:
        request_id_var.set(getattr(task.request, "portal_previous_request_id", None))
