"""The portal's URLs plus a few that fail or queue a task on purpose (ROOT_URLCONF in observability tests)."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.celery import app
from portal.urls import handler500
from portal.urls import urlpatterns as portal_urlpatterns

logger = logging.getLogger("tests.portal.tasks")


@app.task(name="tests.portal.log_a_line")
def log_a_line(text: str) -> str:
    logger.info("task says %s", text)
    return text


@app.task(name="tests.portal.fail")
def fail(text: str) -> None:
    raise ValueError(f"the task broke: {text}")


@login_not_required
def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("kaboom in a view")


@login_not_required
def queue(request: HttpRequest) -> HttpResponse:
    task = fail if request.GET.get("fail") else log_a_line
    result = task.delay(request.GET.get("text", "hello"))
    return HttpResponse(result.id)


urlpatterns = [
    path("test-only/boom/", boom),
    path("test-only/queue/", queue),
    *portal_urlpatterns,
]

__all__ = ["handler500", "urlpatterns"]
