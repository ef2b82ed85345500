from typing import Any

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from two_factor.admin import AdminSiteOTPRequired


class PortalAdminSite(AdminSiteOTPRequired):
    """The support staff's admin: reached only through the portal login with a second factor."""

    site_header = "API Platform Portal — Support"
    site_title = "Portal support"
    index_title = "Support"
    index_template = "admin/portal_index.html"

    @method_decorator(login_not_required)
    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # django-two-factor-auth's version always bounces to the portal login, even for staff
        # who have just logged in there: send them on, and tell customers it is not for them.
        if request.user.is_authenticated and request.user.is_verified():
            if not self.has_permission(request):
                raise PermissionDenied("The support admin is only for support staff.")
            target = request.GET.get(REDIRECT_FIELD_NAME, "")
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = reverse("admin:index", current_app=self.name)
            return HttpResponseRedirect(target)
        response: HttpResponse = super().login(request, extra_context)
        return response
