from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from accounts.types import AuthenticatedRequest
from audit import selectors


def audit_trail(request: AuthenticatedRequest) -> HttpResponse:
    if not request.user.is_org_admin:
        raise PermissionDenied("Only your organisation's admins can read the audit trail.")
    page = Paginator(selectors.organisation_events(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "audit/list.html", {"page": page})
