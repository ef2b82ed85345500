"""Account setup: new password, authenticator app, optional fallback mobile number (SPEC §2)."""

from collections.abc import Mapping

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from accounts import services
from accounts.forms import PhoneNumberForm, TokenForm
from accounts.middleware import onboarding_view
from accounts.models import User
from accounts.phones import format_international
from accounts.qr import authenticator_setup
from accounts.types import AuthenticatedRequest
from audit.services import record
from common.ratelimit import RateLimited
from signin import services as signin_services
from tokens import services as tokens
from tokens.models import SmsDevice

STEPS = [
    ("onboarding-password", "Choose a password"),
    ("onboarding-authenticator", "Authenticator app"),
    ("onboarding-phone", "Fallback number"),
]


def _render_step(request: AuthenticatedRequest, template: str, step: str, extra: Mapping[str, object]) -> HttpResponse:
    names = [name for name, _ in STEPS]
    context = {
        "steps": STEPS,
        "current_step": step,
        "step_number": names.index(step) + 1,
        "in_setup": True,
        **extra,
    }
    return render(request, template, context)


def _off_step(request: AuthenticatedRequest, step: str) -> HttpResponse | None:
    """Send the user to the step they are on if they open another one."""
    current = services.next_onboarding_step(request.user)
    if current is None:
        return redirect("home")
    if current != step:
        return redirect(current)
    return None


@onboarding_view
@login_required
def setup_password(request: AuthenticatedRequest) -> HttpResponse:
    if (response := _off_step(request, "onboarding-password")) is not None:
        return response
    user = request.user
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, user)
        record(action="password.changed", actor=user, request=request)
        messages.success(request, "Your password is set.")
        return redirect(services.next_onboarding_step(user) or "home")
    return _render_step(request, "accounts/onboarding/password.html", "onboarding-password", {"form": form})


@onboarding_view
@login_required
def setup_authenticator(request: AuthenticatedRequest) -> HttpResponse:
    if (response := _off_step(request, "onboarding-authenticator")) is not None:
        return response
    user = request.user
    device = tokens.start_totp(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmed = tokens.confirm_totp(
                user=user,
                device=device,
                code=form.cleaned_data["token"],
                description="Set up at first login",
                acting_user=user,
                request=request,
            )
        except ValidationError as exc:  # too many wrong codes: how long to wait
            form.add_error("token", exc.messages[0])
        else:
            if confirmed:
                otp_login(request, device)
                messages.success(request, "Your authenticator app is set up.")
                return redirect(services.next_onboarding_step(user) or "home")
            form.add_error("token", "That code is not right. Check the time on your phone and enter the current code.")
    context = {"form": form, **authenticator_setup(user=user, device=device)}
    return _render_step(request, "accounts/onboarding/authenticator.html", "onboarding-authenticator", context)


def _pending_phone(user: User) -> SmsDevice | None:
    return signin_services.pending_fallback_phone(user)


@onboarding_view
@login_required
def setup_phone(request: AuthenticatedRequest) -> HttpResponse:
    """The last setup step; after setup, the page where a postponed fallback number is added."""
    user = request.user
    current = services.next_onboarding_step(user)
    if current is not None and current != "onboarding-phone":
        return redirect(current)
    if current is None and services.has_fallback_phone(user):
        return redirect("profile")
    pending = _pending_phone(user)
    number_form = PhoneNumberForm(request.POST if "number" in request.POST else None)
    code_form = TokenForm(request.POST if "token" in request.POST else None)
    if number_form.is_bound and number_form.is_valid():
        try:
            pending = signin_services.start_fallback_phone(user=user, raw_number=number_form.cleaned_data["number"])
            messages.info(request, f"We sent a code to {format_international(pending.number)}.")
            return redirect("onboarding-phone")
        except (RateLimited, ValidationError) as exc:
            number_form.add_error("number", getattr(exc, "message", str(exc)))
    if code_form.is_bound and pending is None:
        # A code with no number waiting for it (an old tab, or a crafted post): say so, not nothing.
        messages.error(request, "Enter your mobile number first: we text it a code to confirm.")
    if code_form.is_bound and code_form.is_valid() and pending is not None:
        try:
            confirmed = signin_services.confirm_fallback_phone(
                user=user, device=pending, token=code_form.cleaned_data["token"]
            )
        except ValidationError as exc:  # too many wrong codes: how long to wait
            code_form.add_error("token", exc.messages[0])
        else:
            if confirmed:
                messages.success(request, "Your fallback number is confirmed. Your account is ready.")
                return redirect("home")
            code_form.add_error("token", "That code is not right, or it has expired. Ask for a new one.")
    context = {
        "number_form": number_form,
        "code_form": code_form,
        "pending": pending,
        "in_setup": current is not None,
    }
    return _render_step(request, "accounts/onboarding/phone.html", "onboarding-phone", context)


@onboarding_view
@login_required
@require_POST
def resend_phone_code(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    pending = _pending_phone(user)
    if pending is None:
        messages.error(request, "Enter your mobile number first.")
        return redirect("onboarding-phone")
    try:
        tokens.send_code(device=pending, user=user)
        messages.info(request, f"We sent a new code to {format_international(pending.number)}.")
    except RateLimited as exc:
        messages.error(request, exc.message)
    return redirect("onboarding-phone")


@onboarding_view
@login_required
@require_POST
def postpone_phone(request: AuthenticatedRequest) -> HttpResponse:
    current = services.next_onboarding_step(request.user)
    if current is not None and current != "onboarding-phone":
        return redirect(current)
    services.postpone_fallback_phone(user=request.user)
    messages.info(request, "You can add a fallback number later from your profile.")
    return redirect("home")
