from django.urls import path

from whitelist import api

urlpatterns = [
    path("whitelist/<str:public_id>", api.platform_whitelist, name="platform-whitelist"),
]
