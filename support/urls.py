from django.urls import path

from support import views

urlpatterns = [
    path("tickets/", views.ticket_list, name="tickets"),
    path("tickets/new/", views.ticket_new, name="ticket-new"),
    # "Ask support" on a row of the error log: a ticket prefilled from the failed call.
    path("tickets/new/error/<int:error_id>/", views.ticket_new_for_error, name="ticket-new-for-error"),
    path("tickets/<int:ticket_id>/", views.ticket_detail, name="ticket-detail"),
    path("tickets/<int:ticket_id>/close/", views.ticket_close, name="ticket-close"),
    path("tickets/<int:ticket_id>/reopen/", views.ticket_reopen, name="ticket-reopen"),
    path(
        "tickets/<int:ticket_id>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="ticket-attachment",
    ),
    path("resources/", views.resources, name="resources"),
    # Under the company details on the profile page (accounts/profile_page.py).
    path("profile/company-change/", views.request_company_change, name="company-change-request"),
]
