from django.urls import path

from apikeys import views

urlpatterns = [
    path("api-keys/", views.api_key_list, name="api-keys"),
    path("api-keys/add/", views.api_key_add, name="api-key-add"),
    path("api-keys/secret/", views.api_key_secret, name="api-key-secret"),
    path("api-keys/<int:key_id>/edit/", views.api_key_edit, name="api-key-edit"),
    path("api-keys/<int:key_id>/roll/", views.api_key_roll, name="api-key-roll"),
    path("api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
