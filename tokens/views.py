"""Token pages: a user's own tokens, and an org admin's view of any of their users' tokens."""

from collections.abc import Callable
from functools import wraps
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from accounts import selectors as account_selectors
from accounts.models import User
from accounts.permissions import MANAGE_OTHERS_TOKENS, UNLOCK_TOKENS, require
from accounts.qr import authenticator_setup
from accounts.reauth import recent_password_required
from accounts.types import AuthenticatedRequest
from common.dates import shown
from common.ratelimit import RateLimited
from tokens import kinds, passkeys, selectors, services
from tokens.destination_flow import DestinationFlow, refusal_text
from tokens.forms import (
    CodeForm,
    DescriptionForm,
    HardwareTokenForm,
    PasskeyForm,
    ResyncForm,
    TestCodeForm,
)
from tokens.kinds import KindSpec
from tokens.models import Token


def _owner(request: AuthenticatedRequest, user_id: int | None) -> User:
    """Whose tokens the page is about: the user themselves, or (for admins) one of their users."""
    if user_id is None or user_id == request.user.pk:
        return request.user
    owner = account_selectors.access_user(user=request.user, user_id=user_id)
    require(request.user, MANAGE_OTHERS_TOKENS, organisation_id=owner.organisation_id)
    return owner


def _list_url(owner: User, actor: User) -> str:
    return reverse("tokens") if owner.pk == actor.pk else reverse("user-tokens", args=[owner.pk])


def _nothing_to_confirm(spec: KindSpec) -> str:
    assert spec.destination is not None
    what = spec.destination.noun
    return f"No new {what} is waiting to be confirmed: enter the {what} first, and we will send it a code."


def token_list(request: AuthenticatedRequest, user_id: int | None = None) -> HttpResponse:
    owner = _owner(request, user_id)
    names = selectors.type_names()
    context = {
        "owner": owner,
        "rows": [(token, names[token.kind]) for token in selectors.tokens_of(user=owner)],
        "add_menu": [(spec.kind, spec.add_label or names[spec.kind]) for spec in kinds.KINDS],
        "is_self": owner.pk == request.user.pk,
    }
    return render(request, "tokens/list.html", context)


def _token_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Load the token through the organisation-scoped selector; others' ids are 404."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
        token = selectors.access_token(actor=request.user, token_id=token_id)
        return view(request, token)

    return wrapper


@_token_view
def token_detail(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    context = {
        "token": token,
        "type_name": selectors.type_names()[token.kind],
        "list_url": _list_url(token.user, request.user),
        "description_form": DescriptionForm(initial={"description": token.description}),
    }
    return render(request, "tokens/detail.html", context)


@_token_view
def token_edit(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    if token.spec.destination is not None:
        return _change_destination(request, token)
    form = DescriptionForm(request.POST or None, initial={"description": token.description})
    if request.method == "POST" and form.is_valid():
        services.update_description(token=token, description=form.cleaned_data["description"], acting_user=request.user)
        messages.success(request, "The description is saved.")
        return redirect("token-detail", token_id=token.pk)
    return render(request, "tokens/edit.html", {"token": token, "form": form}, status=400 if form.is_bound else 200)


@recent_password_required
def _change_destination(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    """A new number or address is used only once the code sent to it comes back."""
    spec = token.spec
    assert spec.destination is not None and spec.enrol_form is not None
    pending_name = f"replace-{token.pk}"
    form = spec.enrol_form(request.POST if spec.destination.field in request.POST else None)
    del form.fields["description"]  # the token keeps its description; only the destination changes
    flow = DestinationFlow(
        request,
        spec=spec,
        owner=token.user,
        destination_form=form,
        code_form=CodeForm(request.POST if "code" in request.POST else None),
        pending_name=pending_name,
    )
    response = flow.send(
        lambda destination: services.start_destination(
            user=token.user, spec=spec, destination=destination, acting_user=request.user, pending_name=pending_name
        ),
        sent=lambda device: "We sent a code to the new destination. Enter it to switch over.",
        then=reverse("token-edit", args=[token.pk]),
    ) or flow.confirm(
        lambda device, code: services.confirm_destination(
            user=token.user, device=device, code=code, replaces=token, acting_user=request.user
        ),
        done=lambda changed: _said(request, "Confirmed: codes now go to the new destination.", changed),
        wrong_code="That code is not right, or it has expired.",
        nothing_pending=_nothing_to_confirm(spec),
    )
    if response is not None:
        return response
    context = {"token": token, "form": form, "code_form": flow.code_form, "pending": flow.pending}
    return render(request, "tokens/change_destination.html", context, status=400 if flow.bound else 200)


def _said(request: AuthenticatedRequest, text: str, token: Token) -> HttpResponse:
    messages.success(request, text)
    return redirect("token-detail", token_id=token.pk)


@_token_view
def token_test(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    if not token.spec.takes_codes:
        raise Http404  # a passkey is tested by logging in with it
    form = TestCodeForm(request.POST if "code" in request.POST else None, hint=token.spec.test_hint)
    result = None
    if request.method == "POST" and "send" in request.POST:
        try:
            services.send_token_code(token=token, acting_user=request.user)
            messages.info(request, f"We sent a code to {token.device_label}.")
        except (RateLimited, ValidationError) as exc:
            messages.error(request, refusal_text(exc))
        return redirect("token-test", token_id=token.pk)
    if form.is_bound and form.is_valid():
        try:
            result = services.test_token(token=token, code=form.cleaned_data["code"], acting_user=request.user)
        except ValidationError as exc:
            form.add_error(None, refusal_text(exc))
    context = {
        "token": token,
        "type_name": selectors.type_names()[token.kind],
        "is_self": token.user_id == request.user.pk,
        "form": form,
        "result": result,
    }
    return render(request, "tokens/test.html", context, status=400 if result is False or form.errors else 200)


@_token_view
@require_POST
def token_enable(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    # Access first (the decorator order): another organisation's token is 404 whatever the method.
    services.set_enabled(token=token, enabled=True, acting_user=request.user)
    messages.success(request, "The token is enabled.")
    return redirect("token-detail", token_id=token.pk)


@_token_view
def token_disable(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    """Confirm first, like delete: disabling the last usable factor keeps its user out."""
    if request.method == "POST":
        services.set_enabled(token=token, enabled=False, acting_user=request.user)
        messages.success(request, "The token is disabled: it cannot be used.")
        return redirect("token-detail", token_id=token.pk)
    context = {
        "token": token,
        "type_name": selectors.type_names()[token.kind],
        "last_one": services.leaves_no_active_token(token),
        "leaves_nothing": services.leaves_nothing_usable(token),
        "is_self": token.user_id == request.user.pk,
    }
    return render(request, "tokens/disable.html", context)


@_token_view
def token_delete(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    list_url = _list_url(token.user, request.user)
    in_use = token.device.persistent_id == request.session.get(DEVICE_ID_SESSION_KEY)
    if request.method == "POST":
        services.delete_token(token=token, acting_user=request.user)
        if in_use:
            # This session's second factor no longer exists: it cannot stay verified.
            logout(request)
            messages.info(request, "The token you logged in with is deleted. Log in again with another token.")
            return redirect("login")
        messages.success(request, "The token is deleted.")
        return redirect(list_url)
    context = {
        "token": token,
        "type_name": selectors.type_names()[token.kind],
        "last_one": services.leaves_no_active_token(token),
        "leaves_no_factor": services.leaves_no_factor(token),
        "is_self": token.user_id == request.user.pk,
        "list_url": list_url,
        "in_use": in_use,
    }
    return render(request, "tokens/delete.html", context)


@_token_view
def token_reset(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    if not token.spec.resyncs:
        raise Http404
    form = ResyncForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = services.resync_hotp(
            token=token,
            first_code=form.cleaned_data["first_code"],
            second_code=form.cleaned_data["second_code"],
            acting_user=request.user,
        )
        if check:
            messages.success(request, "The token is back in step.")
            return redirect("token-detail", token_id=token.pk)
        form.add_error(
            None,
            check.refusal_for(admin=services.manages(request.user, token))
            or "Those two codes do not follow each other on this token (within 1000 presses). Nothing was changed.",
        )
    return render(request, "tokens/reset.html", {"token": token, "form": form}, status=400 if form.errors else 200)


@_token_view
@require_POST
def token_unlock(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    require(request.user, UNLOCK_TOKENS, organisation_id=token.user.organisation_id)
    services.unlock(token=token, acting_user=request.user)
    messages.success(request, "The token is unlocked.")
    return redirect("token-detail", token_id=token.pk)


# --- Enrolment --------------------------------------------------------------------------------


def enrol(request: AuthenticatedRequest, kind: str, user_id: int | None = None) -> HttpResponse:
    owner = _owner(request, user_id)  # 404/403 before anything else, the password check included
    return _enrol_after_password(request, kind, owner)


@recent_password_required
def _enrol_after_password(request: AuthenticatedRequest, kind: str, owner: User) -> HttpResponse:
    spec = kinds.find(kind)
    if spec is None:
        raise Http404
    view: Callable[[AuthenticatedRequest, User, KindSpec], HttpResponse] = import_string(spec.enrol_view)
    return view(request, owner, spec)


def _enrolled(request: AuthenticatedRequest, token: Token) -> HttpResponse:
    messages.success(request, f"{selectors.type_names()[token.kind]} added.")
    return redirect("token-detail", token_id=token.pk)


def enrol_authenticator(request: AuthenticatedRequest, owner: User, spec: KindSpec) -> HttpResponse:
    device = services.start_totp(user=owner)
    form = CodeForm(request.POST if "code" in request.POST else None)
    description = DescriptionForm(request.POST or None)
    if form.is_bound and form.is_valid() and description.is_valid():
        try:
            token = services.confirm_totp(
                user=owner,
                device=device,
                code=form.cleaned_data["code"],
                description=description.cleaned_data["description"],
                acting_user=request.user,
            )
        except ValidationError as exc:
            form.add_error("code", refusal_text(exc))
        else:
            if token is not None:
                return _enrolled(request, token)
            form.add_error("code", "That code is not right. Check the time on the phone and enter the current code.")
    context = {
        "owner": owner,
        "form": form,
        "description": description,
        **authenticator_setup(user=owner, device=device),
    }
    return render(request, "tokens/enrol_totp.html", context, status=400 if form.is_bound else 200)


def enrol_hardware(request: AuthenticatedRequest, owner: User, spec: KindSpec) -> HttpResponse:
    form = HardwareTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.enrol(owner=owner, acting_user=request.user)
        if token is not None:
            return _enrolled(request, token)
    status = 400 if form.is_bound else 200
    return render(request, "tokens/enrol_hotp.html", {"owner": owner, "form": form}, status=status)


def enrol_destination(request: AuthenticatedRequest, owner: User, spec: KindSpec) -> HttpResponse:
    assert spec.destination is not None and spec.enrol_form is not None
    description_key = f"enrol-description-{spec.kind}"  # typed with the destination, used at confirmation
    form = spec.enrol_form(request.POST if "description" in request.POST else None)
    flow = DestinationFlow(
        request,
        spec=spec,
        owner=owner,
        destination_form=form,
        code_form=CodeForm(request.POST if "code" in request.POST else None),
    )

    def start(destination: str) -> Device:
        device = services.start_destination(user=owner, spec=spec, destination=destination, acting_user=request.user)
        request.session[description_key] = form.cleaned_data["description"]
        return device

    def done(token: Token) -> HttpResponse:
        request.session.pop(description_key, None)
        return _enrolled(request, token)

    nothing_pending = _nothing_to_confirm(spec)
    response = flow.send(start, sent=lambda device: "We sent a code. Enter it below to confirm.", then=request.path)
    if response is None and request.method == "POST" and "resend" in request.POST:
        response = flow.resend(
            sent=lambda device: "We sent a new code.", nothing_pending=nothing_pending, then=request.path
        )
    response = response or flow.confirm(
        lambda device, code: services.confirm_destination(
            user=owner,
            device=device,
            code=code,
            description=request.session.get(description_key, ""),
            acting_user=request.user,
        ),
        done=done,
        wrong_code="That code is not right, or it has expired. Ask for a new one.",
        nothing_pending=nothing_pending,
    )
    if response is not None:
        return response
    context = {
        "owner": owner,
        "form": form,
        "code_form": flow.code_form,
        "pending": flow.pending,
        "sent_to": flow.sent_to,
        "spec": spec,
    }
    return render(request, "tokens/enrol_side_channel.html", context, status=400 if flow.bound else 200)


def enrol_passkey(request: AuthenticatedRequest, owner: User, spec: KindSpec) -> HttpResponse:
    """The name is typed here; the browser's prompt makes the key (static/js/passkeys.js), and the
    form then posts both. Each page view gives a fresh challenge, taken once by the POST."""
    form = PasskeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.enrol(request.session, owner=owner, acting_user=request.user)
        if token is not None:
            return _enrolled(request, token)
    context = {
        "owner": owner,
        "form": form,
        "options": passkeys.registration_options(
            request.session, user=owner, existing=selectors.passkeys_of(user=owner)
        ),
    }
    return render(request, "tokens/enrol_passkey.html", context, status=400 if form.is_bound else 200)


# The plain backup codes wait here, in the actor's own session, from the POST that made them to
# the one GET that shows them (post/redirect/get: a reload never makes new codes). That GET pops
# them; only the owner's id stays, so a reload can say "already shown" and link to new ones.
BACKUP_CODES_SESSION_KEY = "backup-codes-once"


def enrol_backup_codes(request: AuthenticatedRequest, owner: User, spec: KindSpec) -> HttpResponse:
    if request.method != "POST":
        return render(request, "tokens/enrol_backup.html", {"owner": owner})
    codes = services.generate_backup_codes(user=owner, acting_user=request.user)
    request.session[BACKUP_CODES_SESSION_KEY] = {"owner": owner.pk, "codes": codes}
    return redirect("backup-codes")


@never_cache
def backup_codes(request: AuthenticatedRequest) -> HttpResponse:
    """The new backup codes, once; with copy, print and a .txt download made from this response."""
    pending = request.session.get(BACKUP_CODES_SESSION_KEY) or {}
    owner = _owner(request, pending.get("owner"))  # the access check again, as for any token page
    codes: list[str] = pending.get("codes") or []
    if codes:
        request.session[BACKUP_CODES_SESSION_KEY] = {"owner": owner.pk}
    context = {
        "owner": owner,
        "codes": codes,
        "again_url": reverse("token-add", args=[kinds.BACKUP.kind])
        if owner.pk == request.user.pk
        else reverse("user-token-add", args=[owner.pk, kinds.BACKUP.kind]),
        "list_url": _list_url(owner, request.user),
        # The download is a data: link in this page, not a URL the server answers later.
        "download_href": "data:text/plain;charset=utf-8," + quote(backup_codes_text(owner, codes)) if codes else "",
    }
    return render(request, "tokens/backup_codes.html", context)


def backup_codes_text(owner: User, codes: list[str]) -> str:
    lines = [
        f"API Platform Portal: backup codes for {owner.email}",
        f"Generated {shown(timezone.now())}. Each code works once; generating new codes ends these.",
        "",
        *(f"{n:2}. {code}" for n, code in enumerate(codes, start=1)),
    ]
    return "\r\n".join(lines) + "\r\n"
