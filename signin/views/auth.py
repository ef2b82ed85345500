import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from accounts.forms import CodeForm, LoginForm, QueuedPasswordResetForm, ResetPasswordForm
from accounts.models import User
from accounts.phones import mask_phone_number
from audit.services import record
from common.ratelimit import RateLimited, enforce_hourly_limit
from tokens import passkeys, selectors
from tokens import services as tokens
from tokens.models import Token, TokenKind

PENDING_LOGIN = "pending_login"
NO_FACTOR_LEFT = (
    "Your account has no second factor left to log in with. Ask an admin of your organisation (or "
    "support) to reset your second factors: you will get an email with a temporary password to set "
    "up a new one."
)


@method_decorator([sensitive_post_parameters(), never_cache], name="dispatch")
class LoginView(auth_views.LoginView):
    """Step one: email and password (django-axes counts the failures)."""

    form_class = LoginForm
    template_name = "accounts/login.html"

    def form_valid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        user = form.get_user()
        if not tokens.has_factor(user):
            if user.onboarded_at is not None:
                # Set up once, every factor gone since: a password alone never logs in.
                record(action="login.refused_no_factor", actor=user)
                form.add_error(None, NO_FACTOR_LEFT)
                return self.form_invalid(form)
            # Account set-up: the middleware takes the user to their first factor next.
            auth_login(self.request, user)
            record(action="login.password_only", actor=user)
            return HttpResponseRedirect(self.get_success_url())
        self.request.session.cycle_key()
        self.request.session[PENDING_LOGIN] = {
            "user_id": user.pk,
            "backend": user.backend,  # type: ignore[attr-defined]
            "at": time.time(),
            "next": self.get_redirect_url(),
        }
        return redirect("login-code")


class LogoutView(auth_views.LogoutView):
    """Django's logout (POST only), and the login page it leads to says so."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_LOGIN)
    if not pending or time.time() - pending["at"] > settings.LOGIN_CODE_STEP_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user_id"], is_active=True).first()
    return (user, pending) if user else None


@method_decorator([sensitive_post_parameters(), never_cache], name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class LoginCodeView(View):
    """Step two: a code from any ACTIVE token of the user, or a backup code."""

    template_name = "accounts/login_code.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        found = _pending_user(request)
        if found is None:
            if request.session.pop(PENDING_LOGIN, None) is not None:
                messages.info(request, "Your login timed out. Please start again.")
            return redirect("login")
        self.user, self.pending = found
        return super().dispatch(request, *args, **kwargs)  # type: ignore[return-value]

    def render(self, form: CodeForm, status: int = 200, passkey_error: str = "") -> HttpResponse:
        context = {
            "form": form,
            "senders": selectors.code_senders(user=self.user),
            "passkey_error": passkey_error,
        }
        devices, context["passkey_refusals"] = tokens.login_passkeys(self.user)
        if devices:
            # A fresh challenge with every page: the one before is spent or replaced.
            context["passkey_options"] = passkeys.authentication_options(
                self.request.session, user=self.user, devices=devices
            )
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render(CodeForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        if "send" in request.POST:
            return self.send(request.POST["send"])
        if "passkey" in request.POST:
            return self.passkey(request.POST["passkey"])
        form = CodeForm(request.POST)
        if not form.is_valid():
            return self.render(form, status=400)
        result = tokens.verify_login_code(user=self.user, code=form.cleaned_data["code"])
        if result.token is None:
            form.add_error("code", result.error)
            return self.render(form, status=400)
        return self.logged_in(result.token)

    def passkey(self, credential: str) -> HttpResponse:
        """The browser's signed answer to the passkey prompt (static/js/passkeys.js)."""
        challenge = passkeys.take_challenge(self.request.session, passkeys.LOGIN, user=self.user)
        if not credential:
            return self.render(CodeForm(), status=400, passkey_error="The browser gave no passkey. Try again.")
        result = tokens.verify_login_passkey(user=self.user, credential=credential, challenge=challenge)
        if result.token is None:
            return self.render(CodeForm(), status=400, passkey_error=result.error)
        return self.logged_in(result.token)

    def logged_in(self, token: Token) -> HttpResponse:
        request = self.request
        del request.session[PENDING_LOGIN]
        auth_login(request, self.user, backend=self.pending["backend"])
        otp_login(request, token.device)
        target = self.pending.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL)
        return HttpResponseRedirect(target)

    def send(self, token_id: str) -> HttpResponse:
        # isdecimal(), not isdigit(): "²" is a digit that int() (and so the pk lookup) refuses.
        token = selectors.code_senders(user=self.user).filter(pk=token_id if token_id.isdecimal() else 0).first()
        if token is None:
            messages.error(self.request, "That token cannot receive codes.")
        else:
            try:
                tokens.send_token_code(token=token)
            except (RateLimited, ValidationError) as exc:
                messages.error(self.request, getattr(exc, "message", " ".join(getattr(exc, "messages", []))))
            else:
                # Before the second factor, a number shows only its last digits.
                to = mask_phone_number(token.device.number) if token.kind == TokenKind.SMS else token.device_label
                messages.success(self.request, f"We sent a code to {to}.")
        return redirect("login-code")


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-sent")

    def form_valid(self, form: QueuedPasswordResetForm) -> HttpResponse:
        from common.ip import client_ip  # the client behind trusted proxies, as for the login locks

        try:
            enforce_hourly_limit(
                f"password-reset-ip:{client_ip(self.request)}",
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
    form_class = ResetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")
    post_reset_login = False


@method_decorator(login_not_required, name="dispatch")
class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
