from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.home, name="home"),
    path("usage/export.csv", views.usage_export, name="usage-export"),
    path("errors/", views.error_log, name="error-log"),
    path("errors/export.csv", views.error_log_export, name="error-log-export"),
]
