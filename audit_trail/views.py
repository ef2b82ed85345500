from collections.abc import Iterator

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from accounts import selectors as account_selectors
from accounts.permissions import READ_AUDIT_TRAIL, require
from accounts.types import AuthenticatedRequest
from audit import selectors
from audit.models import AuditEvent
from audit_trail.forms import AuditFilterForm
from audit_trail.presentation import CSV_HEADER, present
from common.csv_export import csv_response


def _filtered(request: AuthenticatedRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    require(request.user, READ_AUDIT_TRAIL)
    form = AuditFilterForm(
        request.GET or None,
        users=list(account_selectors.organisation_users(user=request.user)),
        actions=selectors.recorded_actions(user=request.user),
    )
    if not form.is_bound:
        return form, selectors.organisation_events(user=request.user)
    if not form.is_valid():
        return form, AuditEvent.objects.none()
    data = form.cleaned_data
    events = selectors.filtered_events(
        user=request.user,
        actor_id=int(data["actor"]) if data["actor"] else None,
        action=data["action"],
        date_from=data["date_from"],
        date_to=data["date_to"],
    )
    return form, events


def audit_trail(request: AuthenticatedRequest) -> HttpResponse:
    form, events = _filtered(request)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "rows": [present(event) for event in page.object_list], "form": form}
    context["query"] = query.urlencode()
    return render(request, "audit/list.html", context, status=400 if form.errors else 200)


def audit_export(request: AuthenticatedRequest) -> StreamingHttpResponse:
    _, events = _filtered(request)

    def rows() -> Iterator[list[str]]:
        for event in events.iterator(chunk_size=2000):
            yield present(event).cells()

    return csv_response(filename="audit-trail.csv", header=CSV_HEADER, rows=rows())
