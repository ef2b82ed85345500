"""Usage and vault counts, posted by the platform (under /api/platform/v1/)."""

from django.urls import path

from dashboard import api

urlpatterns = [
    path("usage", api.usage, name="platform-usage"),
    path("vault-stats", api.vault_stats, name="platform-vault-stats"),
]
