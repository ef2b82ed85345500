from django.urls import path

from audit_trail import views

urlpatterns = [
    path("audit/", views.audit_trail, name="audit-trail"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
]
