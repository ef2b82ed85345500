"""What an operator sees: request ids, context in every log line, the error pages, Sentry.

Every request gets an id (the proxy's sane ``X-Request-ID`` or a fresh uuid4), kept in a context
variable for the request's duration: every log line written meanwhile carries it, with the user and
organisation once authentication has run, and so do the logs of the Celery tasks the request queued
(portal/celery.py carries it in a message header). The response returns it in ``X-Request-ID``,
and the 500 page shows it, so a customer's "reference: …" finds the traceback in the logs.

A database, Redis or broker that cannot be reached is not a bug in the portal: the customer gets a
503 page that says so (with ``Retry-After``), the log names the part that is down. This is decided
in the 500 handler and not in a middleware's ``except``: Django turns an exception into a response
at every middleware layer (``convert_exception_to_response``), so a failure in the session or
authentication middleware (the first places to touch Redis and the database) never reaches an
outer middleware as an exception, while every unhandled exception, wherever raised, ends in the
500 handler, called inside the ``except`` that caught it. Both pages render without a request
context, so no database or session is touched to say that the database is down.
"""

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import kombu.exceptions
import redis.exceptions
import sentry_sdk
from django.conf import settings
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

request_id_var: ContextVar[str | None] = ContextVar("portal_request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("portal_user_id", default=None)
organisation_id_var: ContextVar[int | None] = ContextVar("portal_organisation_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries the request id from the view to the worker.
TASK_REQUEST_ID_HEADER = "portal_request_id"
# A proxy's id (nginx $request_id, a uuid, an AWS trace id) passes; anything else is replaced, so a
# client cannot write line breaks, markup or a megabyte into our logs and pages.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+-]{8,128}")
RETRY_AFTER_SECONDS = 30

access_logger = logging.getLogger("portal.access")
logger = logging.getLogger(__name__)


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


class RequestIdMiddleware:
    """Outermost: sets the request id and writes one access line per request (status, duration)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        tokens = (request_id_var.set(request_id), user_id_var.set(None), organisation_id_var.set(None))
        if sentry_sdk.is_initialized():
            sentry_sdk.set_tag("request_id", request_id)  # an event in Sentry finds its log lines
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            path = _loggable_path(request)
            access_logger.info(
                "%s %s %s %sms",
                request.method,
                path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
            return response
        finally:
            organisation_id_var.reset(tokens[2])
            user_id_var.reset(tokens[1])
            request_id_var.reset(tokens[0])


class RequestUserContextMiddleware:
    """After authentication: the user and organisation ids join the request's log lines."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # LoginRequiredMiddleware loads the user for every request anyway: no extra query.
        user = request.user
        if user.is_authenticated:
            user_id_var.set(user.pk)
            organisation_id_var.set(getattr(user, "organisation_id", None))
        return self.get_response(request)


def _loggable_path(request: HttpRequest) -> str:
    """The path, with a password-reset token (a live credential for an hour) left out."""
    match = request.resolver_match
    if match is not None and "token" in match.kwargs:
        return request.path.replace(str(match.kwargs["token"]), "[token]")
    return request.path


# --- Logging -----------------------------------------------------------------------------------
CONTEXT_FIELDS = (("request_id", request_id_var), ("user_id", user_id_var), ("organisation_id", organisation_id_var))


class RequestContextFilter(logging.Filter):
    """Adds request_id, user_id and organisation_id to a record when they are known."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in CONTEXT_FIELDS:
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """For a terminal: ``time LEVEL logger [request_id user=… org=…] message``."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        context = []
        request_id = getattr(record, "request_id", None)
        if request_id:
            context.append(str(request_id))
        for name, label in (("user_id", "user"), ("organisation_id", "org")):
            if getattr(record, name, None) is not None:
                context.append(f"{label}={getattr(record, name)}")
        prefix = f"[{' '.join(context)}] " if context else ""
        return f"{record.asctime} {record.levelname} {record.name} {prefix}{record.message}"


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: one stream handler on the root logger, JSON lines or text."""
    if log_format not in {"json", "text"}:
        raise ValueError("LOG_FORMAT must be 'json' or 'text'.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "portal.observability.RequestContextFilter"}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": True,
            },
            "text": {"()": "portal.observability.TextFormatter", "fmt": "%(asctime)s %(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own config sends these to handlers that print only with DEBUG on (or mail
            # ADMINS): here they reach the root handler, so a 500's traceback is in the log.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
            "django.security": {"handlers": [], "level": "WARNING", "propagate": True},
            "portal.sms": {"handlers": [], "level": "INFO", "propagate": True},
            # django.db.backends logs every query at DEBUG; celery's own chatter at INFO is enough.
            "django.db.backends": {"level": "INFO"},
        },
    }


# --- Error pages -------------------------------------------------------------------------------
def unavailable_part(exc: BaseException | None) -> str | None:
    """Which dependency an exception says is unreachable, or None for a bug of ours."""
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        return "the database"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "Redis"
    if isinstance(exc, kombu.exceptions.OperationalError):
        return "the message broker"
    return None


def _page_context() -> dict[str, Any]:
    # What portal.context_processors adds, minus anything that needs the session or database.
    return {
        "request_id": request_id_var.get(),
        "portal_environment": settings.PORTAL_ENVIRONMENT,
        "is_test_environment": settings.PORTAL_ENVIRONMENT == "test",
        "support_email": settings.SUPPORT_EMAIL,
    }


def _render(template: str, *, status: int) -> HttpResponse:
    body: str
    try:
        body = render_to_string(template, _page_context())  # no request: no context processors
    except Exception:  # the error page must not fail in turn (a missing static manifest, say)
        logger.exception("Could not render %s", template)
        reference = request_id_var.get() or ""
        body = f"<!doctype html><title>Error {status}</title><p>Error {status}. Reference: {reference}</p>"
    return HttpResponse(body, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a 503 when a dependency is down, else the 500 page with the request's reference."""
    exc = sys.exc_info()[1]
    part = unavailable_part(exc)
    if part is None:
        return _render("500.html", status=500)
    logger.error("Service unavailable: %s cannot be reached (%s: %s)", part, type(exc).__name__, exc)
    response = _render("503.html", status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# --- Sentry ------------------------------------------------------------------------------------
def init_sentry(*, dsn: str, environment: str, release: str | None) -> None:
    """Send unhandled errors (views and tasks) to Sentry; no cookies, user data or bodies."""
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        environment=environment,
        release=release or None,
    )
