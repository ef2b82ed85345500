from django.urls import path

from accounts.views import profile, users

# Login, logout, password reset, account set-up and re-authentication: signin/urls.py (same paths
# and names). The company-details request posted from the profile page: support/urls.py (same path and name).
urlpatterns = [
    path("profile/", profile.profile, name="profile"),
    path("users/", users.user_list, name="user-list"),
    path("users/add/", users.user_add, name="user-add"),
    path("users/<int:user_id>/", users.user_detail, name="user-detail"),
    path("users/<int:user_id>/deactivate/", users.user_deactivate, name="user-deactivate"),
    path("users/<int:user_id>/reactivate/", users.user_reactivate, name="user-reactivate"),
    path("users/<int:user_id>/resend-welcome/", users.user_resend_welcome, name="user-resend-welcome"),
    path("users/<int:user_id>/reset-factors/", users.user_reset_factors, name="user-reset-factors"),
    path("users/<int:user_id>/remove/", users.user_remove, name="user-remove"),
]
