from django.contrib import admin
from django.urls import include, path

from portal.health import health

urlpatterns = [
    path("health/", health, name="health"),  # container healthchecks: no login, plain HTTP allowed
    path("admin/", admin.site.urls),
    path("api/platform/v1/", include("platform_api.urls")),
    path("", include("dashboard.urls")),  # the home page is the usage dashboard
    path("", include("signin.urls")),
    path("", include("accounts.urls")),
    path("", include("tokens.urls")),
    path("", include("support.urls")),
    path("", include("audit_trail.urls")),
    path("", include("whitelist.urls")),
    path("", include("billing.urls")),
    path("", include("files.urls")),
    path("", include("extracts.urls")),
    path("", include("alarms.urls")),
    path("", include("apikeys.urls")),
]

# Renders without the database; answers 503 when the database, Redis or the broker is down.
handler500 = "portal.observability.server_error"
