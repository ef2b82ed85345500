from django.urls import path

from alarms import views

urlpatterns = [
    path("alarms/", views.alarm_list, name="alarms"),
    path("alarms/add/", views.alarm_add, name="alarm-add"),
    path("alarms/<int:alarm_id>/edit/", views.alarm_edit, name="alarm-edit"),
    path("alarms/<int:alarm_id>/delete/", views.alarm_delete, name="alarm-delete"),
    path("alarms/history/", views.alarm_history, name="alarm-history"),
    path("alarms/webhook/", views.webhook, name="alarm-webhook"),
    path("alarms/webhook/rotate/", views.webhook_rotate, name="alarm-webhook-rotate"),
    path("alarms/webhook/remove/", views.webhook_remove, name="alarm-webhook-remove"),
    path("alarms/webhook/test/", views.webhook_test, name="alarm-webhook-test"),
    path("alarms/webhook/deliveries/", views.webhook_deliveries, name="alarm-webhook-deliveries"),
]
