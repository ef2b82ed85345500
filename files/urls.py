from django.urls import path

from files import views

urlpatterns = [
    path("files/", views.file_list, name="files"),
    path("files/<slug:section>/upload/", views.file_upload, name="file-upload"),
    path("files/<int:file_id>/", views.file_detail, name="file-detail"),
    path("files/<int:file_id>/download/", views.file_download, name="file-download"),
    path("files/<int:file_id>/delete/", views.file_delete, name="file-delete"),
]
