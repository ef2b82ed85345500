"""The platform's read of API keys (under /api/platform/v1/)."""

from django.urls import path

from apikeys import api

urlpatterns = [
    path("keys/<str:public_id>", api.platform_keys, name="platform-keys"),
]
