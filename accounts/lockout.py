"""Login locks: 5 wrong passwords lock an account, many failures across accounts lock an address.

django-axes keeps the failures (one row per account, address and browser; support lifts a lock
with ``axes_reset``) and locks an account after ``AXES_FAILURE_LIMIT`` failures within the
cool-off, counted per account and per account + address (``AXES_LOCKOUT_PARAMETERS``). It never
locks an address for one account's failures: the colleagues of someone who mistyped share the
office's address. Credential stuffing (a few guesses at each of many accounts) is stopped by a
separate, higher threshold on the failures of all accounts from one address,
``AXES_IP_FAILURE_LIMIT``; axes has one threshold for every parameter, so that count is read
from axes' rows here.

Concurrency: axes checks the count, then the password, then records the failure. Requests that
arrive together all see the same count, so twenty at once would all have their password
checked. Each check therefore first takes a numbered place in an atomic Redis counter of checks
under way (``common.ratelimit.begin_in_flight``) and counts those with the recorded failures;
the place is given back only once its failure is recorded (``PortalAxesHandler``) or the
password turned out right (the password backends call ``release``). No more than the limit of
wrong passwords is ever checked, whatever the number of web processes.

A login refused because of a lock is not checked and not counted as a failure (so the account's
owner trying again does not extend their lock); the audit trail records it as
``login.locked_out`` with the reason.
"""

from typing import Any, Literal

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from common.ratelimit import begin_in_flight, end_in_flight

Reason = Literal["account", "address"]
_PLACES = "login_gate_places"
REASON = "login_lock_reason"


def _address_failures(request: HttpRequest) -> int:
    attempts = AccessAttempt.objects.filter(
        ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        attempt_time__gte=get_cool_off_threshold(request),
    )
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def admit(request: HttpRequest, credentials: dict[str, Any]) -> Reason | None:
    """Take this password check's places under the account's and the address's limits.

    None: check the password (and later ``release``); otherwise the lock that refuses it.
    """
    AxesProxyHandler.update_request(request)
    places: list[str] = []
    setattr(request, _PLACES, places)

    username = get_client_username(request, credentials)
    if username:
        key = f"login-account:{username}"
        under_way = begin_in_flight(key)
        places.append(key)
        failures = AxesProxyHandler.get_failures(request, credentials)
        if failures + under_way - 1 >= get_failure_limit(request, credentials):
            release(request)
            return "account"

    # Only for someone not signed in: re-authenticating binds the check to one's own account.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        key = f"login-address:{request.axes_ip_address}"  # type: ignore[attr-defined]
        under_way = begin_in_flight(key)
        places.append(key)
        if _address_failures(request) + under_way - 1 >= settings.AXES_IP_FAILURE_LIMIT:
            release(request)
            return "address"
    return None


def release(request: HttpRequest | None) -> None:
    """Give back this request's places: its password check is over and its outcome recorded."""
    for key in getattr(request, _PLACES, None) or ():
        end_in_flight(key)
    if request is not None:
        setattr(request, _PLACES, [])


class PortalAxesHandler(AxesDatabaseHandler):
    """axes' database handler, giving back the request's places once its failure is stored."""

    def user_login_failed(self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
        try:
            super().user_login_failed(sender, credentials, request, **kwargs)
        finally:
            # axes has committed the failure (its own atomic block; the portal runs no request
            # in a transaction), so a concurrent check sees it before this place goes.
            release(request)


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """The page for a refused login (``AXES_LOCKOUT_CALLABLE``): which lock, and for how long."""
    reason = getattr(request, REASON, None) or "account"
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, {"reason": reason}, status=429)
