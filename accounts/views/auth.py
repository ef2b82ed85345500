from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from two_factor.views import LoginView as TwoFactorLoginView

from accounts.forms import LoginForm, QueuedPasswordResetForm
from accounts.ratelimit import RateLimited, enforce_hourly_limit


class LoginView(TwoFactorLoginView):
    """django-two-factor-auth's login wizard: email + password, then a code."""

    template_name = "accounts/login.html"
    form_list = (
        (TwoFactorLoginView.AUTH_STEP, LoginForm),
        *TwoFactorLoginView.form_list[1:],
    )

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        if "challenge_device" in self.request.POST and not self.get_user():
            # A code asked for before the password step passed: django-two-factor-auth would look
            # up the devices of no user and fail; start again from the password instead.
            self.storage.reset()
            return self.render_goto_step(self.AUTH_STEP)
        response: HttpResponse = super().post(*args, **kwargs)
        return response

    def get_form(self, step: str | None = None, **kwargs: Any) -> Any:
        form = super().get_form(step, **kwargs)
        if "otp_token" in form.fields:
            is_backup = (step or self.steps.current) == self.BACKUP_STEP
            form.fields["otp_token"].label = "Backup code" if is_backup else "Code"
        return form

    def get_context_data(self, form: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form, **kwargs)
        context["device"] = self.get_device() if self.steps.current != self.AUTH_STEP else None
        return context


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-sent")

    def form_valid(self, form: QueuedPasswordResetForm) -> HttpResponse:
        try:
            enforce_hourly_limit(
                f"password-reset-ip:{self.request.META.get('REMOTE_ADDR')}",
                settings.PASSWORD_RESETS_PER_IP_PER_HOUR,
                "password reset requests from your network",
            )
        except RateLimited as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        try:
            enforce_hourly_limit(
                f"password-reset-email:{form.cleaned_data['email'].lower()}",
                settings.PASSWORD_RESETS_PER_EMAIL_PER_HOUR,
                "password reset emails",
            )
        except RateLimited:
            # Same answer as a sent email: the page must not tell whether the address exists.
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


@method_decorator(login_not_required, name="dispatch")
class PasswordResetSentView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_sent.html"


@method_decorator(login_not_required, name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")
    post_reset_login = False


@method_decorator(login_not_required, name="dispatch")
class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
