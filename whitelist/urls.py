from django.urls import path

from whitelist import views

urlpatterns = [
    path("whitelist/", views.whitelist_list, name="whitelist"),
    path("whitelist/add/", views.whitelist_add, name="whitelist-add"),
    path("whitelist/<int:entry_id>/edit/", views.whitelist_edit, name="whitelist-edit"),
    path("whitelist/<int:entry_id>/remove/", views.whitelist_remove, name="whitelist-remove"),
]
