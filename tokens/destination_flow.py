"""Send a code to a number or address, then confirm it with that code: one flow for every page
that binds a destination.

Enrolling a text-message or email token, changing a token's number or address, and account
set-up's fallback number all ask for a destination, send it a code (within the cooldown and the
hourly limits), and take it only once the code comes back. Each page says what a confirmed
device becomes and words its messages; the order of the steps, what a refusal says and where,
and what happens to a code with nothing waiting for it are this module's.
"""

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_otp.models import Device

from accounts.models import User
from common.ratelimit import RateLimited
from tokens import services
from tokens.kinds import KindSpec

Confirmed = TypeVar("Confirmed")


def refusal_text(exc: ValidationError | RateLimited) -> str:
    """What a refused destination or code says: the service's reasons, or how long to wait."""
    if isinstance(exc, RateLimited):
        return exc.message
    return " ".join(exc.messages)


class DestinationFlow:
    """One page's destination form and code form, and the device waiting for its code."""

    def __init__(
        self,
        request: HttpRequest,
        *,
        spec: KindSpec,
        owner: User,
        destination_form: forms.Form,
        code_form: forms.Form,
        code_field: str = "code",
        pending_name: str = "pending",
        refusal_field: str | None = None,
    ) -> None:
        assert spec.destination is not None, f"{spec.label} receives no codes"
        self.request = request
        self.spec = spec
        self.destination = spec.destination
        self.owner = owner
        self.destination_form = destination_form
        self.code_form = code_form
        self.code_field = code_field
        self.refusal_field = refusal_field  # where a refused destination's reason goes (None: the form's top)
        self.pending: Device | None = spec.device_model.objects.filter(
            user=owner, name=pending_name, confirmed=False
        ).first()
        self._said_nothing_pending = False

    @property
    def bound(self) -> bool:
        return self.destination_form.is_bound or self.code_form.is_bound

    def shown(self, device: Device) -> str:
        """A device's destination as pages show it: +44 7400 123456, max@acme.example."""
        return self.destination.shown(device, self.owner)

    @property
    def sent_to(self) -> str:
        """The waiting destination as pages show it, or ''."""
        return self.shown(self.pending) if self.pending is not None else ""

    def send(self, start: Callable[[str], Device], *, sent: Callable[[Device], str], then: str) -> HttpResponse | None:
        """A destination was posted: ``start`` sends it a code; say ``sent`` and go to ``then``.

        None (and the reason on the destination form) when the form or the sending refused it.
        """
        form = self.destination_form
        if not (form.is_bound and form.is_valid()):
            return None
        try:
            device = start(form.cleaned_data[self.destination.field])
        except (RateLimited, ValidationError) as exc:
            form.add_error(self.refusal_field, refusal_text(exc))
            return None
        messages.info(self.request, sent(device))
        return redirect(then)

    def resend(self, *, sent: Callable[[Device], str], nothing_pending: str, then: str) -> HttpResponse | None:
        """A new code to the waiting destination (within the cooldown), or None when none waits."""
        if self.pending is None:
            self._nothing_pending(nothing_pending)
            return None
        try:
            services.send_code(device=self.pending, user=self.owner)
        except RateLimited as exc:
            messages.error(self.request, exc.message)
        else:
            messages.info(self.request, sent(self.pending))
        return redirect(then)

    def confirm(
        self,
        confirm: Callable[[Device, str], Confirmed | None],
        *,
        done: Callable[[Confirmed], HttpResponse],
        wrong_code: str,
        nothing_pending: str,
    ) -> HttpResponse | None:
        """A code was posted: ``confirm`` checks it against the waiting device; ``done`` with what
        that made. None (and the reason on the code form, or a message) otherwise."""
        form = self.code_form
        if not form.is_bound:
            return None
        if self.pending is None:
            # A code with nothing waiting for it (an old tab, or a crafted post): say so, not nothing.
            self._nothing_pending(nothing_pending)
            return None
        if not form.is_valid():
            return None
        try:
            confirmed = confirm(self.pending, form.cleaned_data[self.code_field])
        except ValidationError as exc:  # refused unchecked: how long to wait, or the lock
            form.add_error(self.code_field, refusal_text(exc))
            return None
        if not confirmed:
            form.add_error(self.code_field, wrong_code)
            return None
        return done(confirmed)

    def _nothing_pending(self, text: str) -> None:
        if not self._said_nothing_pending:
            messages.error(self.request, text)
            self._said_nothing_pending = True
