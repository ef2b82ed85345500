"""The platform's machine-to-machine API, version 1 (documented in openapi.json)."""

from django.urls import include, path

from platform_api import views

urlpatterns = [
    path("openapi.json", views.openapi_document, name="platform-openapi"),
    path("", include("dashboard.api_urls")),
    path("", include("whitelist.api_urls")),
    path("", include("apikeys.api_urls")),
]
