from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.middleware import onboarding_view
from accounts.views import auth, onboarding, profile, reauth, users

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("login/code/", auth.LoginCodeView.as_view(), name="login-code"),
    # Reachable in the middle of account set-up too.
    path("logout/", onboarding_view(auth_views.LogoutView.as_view()), name="logout"),
    path("password/reset/", auth.PasswordResetView.as_view(), name="password-reset"),
    path("password/reset/sent/", auth.PasswordResetSentView.as_view(), name="password-reset-sent"),
    path(
        "password/reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("password/reset/done/", auth.PasswordResetCompleteView.as_view(), name="password-reset-complete"),
    path("setup/password/", onboarding.setup_password, name="onboarding-password"),
    path("setup/authenticator/", onboarding.setup_authenticator, name="onboarding-authenticator"),
    path("setup/phone/", onboarding.setup_phone, name="onboarding-phone"),
    path("setup/phone/resend/", onboarding.resend_phone_code, name="onboarding-phone-resend"),
    path("setup/phone/later/", onboarding.postpone_phone, name="onboarding-phone-later"),
    path("profile/", profile.profile, name="profile"),
    path("reauthenticate/", reauth.reauthenticate, name="reauthenticate"),
    path("profile/company-change/", profile.request_company_change, name="company-change-request"),
    path("users/", users.user_list, name="user-list"),
    path("users/add/", users.user_add, name="user-add"),
    path("users/<int:user_id>/", users.user_detail, name="user-detail"),
    path("users/<int:user_id>/deactivate/", users.user_deactivate, name="user-deactivate"),
    path("users/<int:user_id>/reactivate/", users.user_reactivate, name="user-reactivate"),
    path("users/<int:user_id>/resend-welcome/", users.user_resend_welcome, name="user-resend-welcome"),
    path("users/<int:user_id>/reset-factors/", users.user_reset_factors, name="user-reset-factors"),
    path("users/<int:user_id>/remove/", users.user_remove, name="user-remove"),
]
