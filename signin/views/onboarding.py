"""Account setup: new password, authenticator app, optional fallback mobile number (SPEC §2)."""

from collections.abc import Mapping

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from accounts import services
from accounts.forms import PhoneNumberForm, TokenForm
from accounts.middleware import onboarding_view
from accounts.qr import authenticator_setup
from accounts.types import AuthenticatedRequest
from audit.services import record
from signin import services as signin_services
from tokens import kinds, passkeys
from tokens import selectors as token_selectors
from tokens import services as tokens
from tokens.destination_flow import DestinationFlow
from tokens.forms import PasskeyForm

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
        record(action="password.changed", actor=user)
        messages.success(request, "Your password is set.")
        return redirect(services.next_onboarding_step(user) or "home")
    return _render_step(request, "accounts/onboarding/password.html", "onboarding-password", {"form": form})


@onboarding_view
@login_required
def setup_authenticator(request: AuthenticatedRequest) -> HttpResponse:
    if (response := _off_step(request, "onboarding-authenticator")) is not None:
        return response
    user = request.user
    if "credential" in request.POST:
        return _setup_passkey(request)
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
            )
        except ValidationError as exc:  # too many wrong codes: how long to wait
            form.add_error("token", exc.messages[0])
        else:
            if confirmed:
                otp_login(request, device)
                messages.success(request, "Your authenticator app is set up.")
                return redirect(services.next_onboarding_step(user) or "home")
            form.add_error("token", "That code is not right. Check the time on your phone and enter the current code.")
    return _authenticator_page(request, form=form, passkey_form=PasskeyForm(initial={"description": "My passkey"}))


def _authenticator_page(request: AuthenticatedRequest, *, form: TokenForm, passkey_form: PasskeyForm) -> HttpResponse:
    """The authenticator step, with a passkey offered instead (its own form, posted to the same page)."""
    user = request.user
    device = tokens.start_totp(user=user)
    context = {
        "form": form,
        "passkey_form": passkey_form,
        "passkey_options": passkeys.registration_options(
            request.session, user=user, existing=token_selectors.passkeys_of(user=user)
        ),
        **authenticator_setup(user=user, device=device),
    }
    return _render_step(request, "accounts/onboarding/authenticator.html", "onboarding-authenticator", context)


def _setup_passkey(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    passkey_form = PasskeyForm(request.POST)
    token = passkey_form.enrol(request.session, owner=user, acting_user=user) if passkey_form.is_valid() else None
    if token is not None:
        otp_login(request, token.device)
        messages.success(request, "Your passkey is set up.")
        return redirect(services.next_onboarding_step(user) or "home")
    response = _authenticator_page(request, form=TokenForm(), passkey_form=passkey_form)
    response.status_code = 400
    return response


def _phone_flow(request: AuthenticatedRequest) -> DestinationFlow:
    return DestinationFlow(
        request,
        spec=kinds.SMS,
        owner=request.user,
        destination_form=PhoneNumberForm(request.POST if "number" in request.POST else None),
        code_form=TokenForm(request.POST if "token" in request.POST else None),
        code_field="token",
        refusal_field="number",
    )


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
    flow = _phone_flow(request)
    response = flow.send(
        lambda number: signin_services.start_fallback_phone(user=user, raw_number=number),
        sent=lambda device: f"We sent a code to {flow.shown(device)}.",
        then=reverse("onboarding-phone"),
    ) or flow.confirm(
        lambda device, code: signin_services.confirm_fallback_phone(user=user, device=device, token=code),
        done=lambda confirmed: _ready(request),
        wrong_code="That code is not right, or it has expired. Ask for a new one.",
        nothing_pending="Enter your mobile number first: we text it a code to confirm.",
    )
    if response is not None:
        return response
    context = {
        "number_form": flow.destination_form,
        "code_form": flow.code_form,
        "pending": flow.pending,
        "in_setup": current is not None,
    }
    return _render_step(request, "accounts/onboarding/phone.html", "onboarding-phone", context)


def _ready(request: AuthenticatedRequest) -> HttpResponse:
    messages.success(request, "Your fallback number is confirmed. Your account is ready.")
    return redirect("home")


@onboarding_view
@login_required
@require_POST
def resend_phone_code(request: AuthenticatedRequest) -> HttpResponse:
    flow, then = _phone_flow(request), reverse("onboarding-phone")
    return flow.resend(
        sent=lambda device: f"We sent a new code to {flow.shown(device)}.",
        nothing_pending="Enter your mobile number first.",
        then=then,
    ) or redirect(then)


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
