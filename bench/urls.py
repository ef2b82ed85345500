"""The portal's URLs and, for the benchmark only, a trivial view behind the same login.

§9 compares the dashboard with "a trivial Django view". Every portal page is behind the
password and the second factor, so the reference the dashboard is held to is a view that does
nothing but sits behind the same middleware: the session is read, the user and their verified
device are loaded, the onboarding check runs. The benchmark also measures a view without a
session (the OpenAPI document) and prints both.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns


def signed_in_trivial_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/signed-in-trivial/", signed_in_trivial_view), *portal_urlpatterns]
