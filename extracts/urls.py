from django.urls import path

from extracts import views

urlpatterns = [
    path("extracts/", views.extract_list, name="extract-list"),
    path("extracts/request/", views.extract_request, name="extract-request"),
    path("extracts/schedule/", views.schedule_set, name="extract-schedule"),
    path("extracts/schedule/cancel/", views.schedule_cancel, name="extract-schedule-cancel"),
    path("extracts/key/", views.extract_key, name="extract-key"),
    path("extracts/key/remove/", views.extract_key_remove, name="extract-key-remove"),
]
