from django.urls import path

from accounts.middleware import onboarding_view
from signin.views import auth, onboarding, reauth

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("login/code/", auth.LoginCodeView.as_view(), name="login-code"),
    # Reachable in the middle of account set-up too.
    path("logout/", onboarding_view(auth.LogoutView.as_view()), name="logout"),
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
    path("reauthenticate/", reauth.reauthenticate, name="reauthenticate"),
]
