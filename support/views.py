from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.types import AuthenticatedRequest
from accounts.views.profile import profile_context
from common.ratelimit import RateLimited
from dashboard import selectors as usage
from files.downloads import audited_attachment
from files.upload_handlers import upload_refusal
from support import selectors, services
from support.forms import ChangeRequestForm, CommentForm, StatusFilterForm, TicketForm, error_ticket_initial

if TYPE_CHECKING:
    from dashboard.models import ErrorLog


def ticket_list(request: AuthenticatedRequest) -> HttpResponse:
    form = StatusFilterForm(request.GET or None)
    tickets = selectors.tickets_for(user=request.user)
    if form.is_valid() and form.cleaned_data["status"]:
        tickets = tickets.filter(status=form.cleaned_data["status"])
    return render(request, "support/list.html", {"tickets": tickets[:200], "form": form})


def _refused(response: HttpResponse, limited: RateLimited | None) -> HttpResponse:
    if limited is not None:
        response.status_code = 429
        response["Retry-After"] = str(limited.retry_after)
    return response


def ticket_new(request: AuthenticatedRequest) -> HttpResponse:
    return _open_ticket(request)


def ticket_new_for_error(request: AuthenticatedRequest, error_id: int) -> HttpResponse:
    """ "Ask support" on an error-log row: a ticket prefilled with the failed call, linked to it."""
    error = usage.access_error(user=request.user, error_id=error_id)  # 404 for another organisation's row
    return _open_ticket(request, error=error)


def _open_ticket(request: AuthenticatedRequest, *, error: "ErrorLog | None" = None) -> HttpResponse:
    initial = error_ticket_initial(error) if error is not None else None
    form = TicketForm(
        request.POST or None, request.FILES or None, user=request.user, refusal=upload_refusal(request), initial=initial
    )
    limited = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.open_ticket(
                acting_user=request.user,
                subject=data["subject"],
                body=data["body"],
                category=data["category"],
                participants=data["participants"],
                files=data["attachments"],
                error_log=error,
            )
        except ValidationError as exc:
            form.add_error("attachments", exc)
        except RateLimited as exc:
            limited = exc
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Ticket #{ticket.pk} is open. Support will answer by email and here.")
            return redirect("ticket-detail", ticket_id=ticket.pk)
    context = {
        "form": form,
        "error": error,
        "earlier": selectors.tickets_about_errors(user=request.user, error_ids=[error.pk]) if error else [],
    }
    response = render(request, "support/new.html", context, status=400 if form.is_bound else 200)
    return _refused(response, limited)


def ticket_detail(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    ticket = selectors.access_ticket(user=request.user, ticket_id=ticket_id)
    form = CommentForm(request.POST or None, request.FILES or None, refusal=upload_refusal(request))
    limited = None
    if request.method == "POST" and form.is_valid():
        try:
            services.add_comment(
                ticket=ticket,
                acting_user=request.user,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["attachments"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except RateLimited as exc:
            limited = exc
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your reply is added.")
            return redirect("ticket-detail", ticket_id=ticket.pk)
    participants = sorted(services.included(ticket), key=lambda u: (u.full_name, u.email))
    context = {
        "ticket": ticket,
        "form": form,
        "participants": participants,
        "retention_days": settings.ERROR_LOG_RETENTION_DAYS,
    }
    response = render(request, "support/detail.html", context, status=400 if form.is_bound else 200)
    return _refused(response, limited)


def _status_change(close: bool, text: str) -> Callable[[AuthenticatedRequest, int], HttpResponse]:
    def view(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
        ticket = selectors.access_ticket(user=request.user, ticket_id=ticket_id)  # 404 before 405
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            services.close_or_reopen(ticket=ticket, close=close, acting_user=request.user)
        except RateLimited as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, text)
        return redirect("ticket-detail", ticket_id=ticket.pk)

    return view


ticket_close = _status_change(True, "The ticket is closed. Everyone else on it gets an email.")
ticket_reopen = _status_change(False, "The ticket is open again. Everyone else on it and support get an email.")


def attachment_download(request: AuthenticatedRequest, ticket_id: int, attachment_id: int) -> FileResponse:
    attachment = selectors.access_attachment(user=request.user, ticket_id=ticket_id, attachment_id=attachment_id)
    return audited_attachment(
        attachment.file.open("rb"),
        filename=attachment.name,
        content_type=attachment.content_type,
        acting_user=request.user,
        organisation=request.user.organisation,
        target=f"{attachment.name} (ticket #{ticket_id})",
    )


def resources(request: AuthenticatedRequest) -> HttpResponse:
    return render(request, "support/resources.html", {"groups": selectors.resource_groups()})


@require_POST
def request_company_change(request: AuthenticatedRequest) -> HttpResponse:
    """The form under the company details on the profile page: the request becomes a ticket."""
    user = request.user
    form = ChangeRequestForm(request.POST, request.FILES, refusal=upload_refusal(request))
    limited = None
    if form.is_valid():
        data = form.cleaned_data
        message = data.pop("message")
        documents = data.pop("documents")
        try:
            services.request_company_details_change(acting_user=user, changes=data, message=message, files=documents)
        except ValidationError as exc:
            form.add_error(None, exc)
        except RateLimited as exc:  # a request is a new ticket for support
            limited = exc
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your request was sent to support. We will email you when it is handled.")
            return redirect("profile")
    response = render(request, "accounts/profile.html", profile_context(user, change_form=form), status=400)
    return _refused(response, limited)
