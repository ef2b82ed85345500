from django.urls import path

from tokens import views

urlpatterns = [
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/add/<str:kind>/", views.enrol, name="token-add"),
    path("tokens/backup-codes/", views.backup_codes, name="backup-codes"),
    path("users/<int:user_id>/tokens/", views.token_list, name="user-tokens"),
    path("users/<int:user_id>/tokens/add/<str:kind>/", views.enrol, name="user-token-add"),
    path("tokens/<int:token_id>/", views.token_detail, name="token-detail"),
    path("tokens/<int:token_id>/edit/", views.token_edit, name="token-edit"),
    path("tokens/<int:token_id>/test/", views.token_test, name="token-test"),
    path("tokens/<int:token_id>/disable/", views.token_disable, name="token-disable"),
    path("tokens/<int:token_id>/enable/", views.token_enable, name="token-enable"),
    path("tokens/<int:token_id>/delete/", views.token_delete, name="token-delete"),
    path("tokens/<int:token_id>/reset/", views.token_reset, name="token-reset"),
    path("tokens/<int:token_id>/unlock/", views.token_unlock, name="token-unlock"),
]
