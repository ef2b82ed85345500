from django.urls import path

from billing import views

urlpatterns = [
    path("billing/", views.invoice_list, name="billing"),
    path("billing/<int:invoice_id>/", views.invoice_detail, name="billing-detail"),
    path("billing/<int:invoice_id>/pdf/", views.invoice_pdf, name="billing-pdf"),
]
