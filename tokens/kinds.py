"""The kinds of second-factor token, each declared once.

A kind is what the portal knows about one django-otp device type: the device model, the label
users see (support may rename it, see ``TokenType``), how a token of it is enrolled, whether it
receives codes and where (``Destination``), and what its edit, test and reset pages mean. Models,
services, views, templates and the admin ask a token's kind (``token.spec``) instead of comparing
``token.kind``; verification itself is the device's own (django-otp's ``verify_token``).

A new kind (a passkey, say) is its ``TokenKind`` value, its device model, its enrolment form and
view, and one ``KindSpec`` in ``KINDS`` below; tests/tokens/test_kinds.py checks the list is whole.
The device keeps django-otp's contract: ``verify_token`` answers whether a typed code is its own
(the login asks every token's device; one that never takes typed codes just says no), and
``ThrottlingMixin`` gives it the back-off and the portal's lock after repeated failures.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.db import transaction
from django.template.loader import render_to_string
from django_otp.models import Device
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.phones import format_international, mask_phone_number, validate_factor_phone_number
from common.mail import queue_templated_email
from tokens import backup_codes
from tokens.forms import CodeForm, EmailAddressForm, HardwareTokenForm, SmsNumberForm
from tokens.models import EmailCodeDevice, PasskeyDevice, SmsDevice, TokenKind

if TYPE_CHECKING:
    from accounts.models import User
    from tokens.models import Token


def _text_code(device: Any, user: "User", message: dict[str, Any]) -> None:
    from common.tasks import send_sms

    to = str(device.number)
    body = render_to_string("tokens/sms/security_code.txt", message).strip()
    transaction.on_commit(lambda: send_sms.delay(to=to, body=body))


def _email_code(device: Any, user: "User", message: dict[str, Any]) -> None:
    queue_templated_email(
        template="tokens/email/security_code",
        subject="Your security code",
        context=message,
        to=[device.email or user.email],
    )


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where a kind that receives codes sends them (a phone number, an email address), and how."""

    field: str  # the form field and the device's attribute that hold it
    noun: str  # "Change number", "No new number is waiting"
    full_noun: str  # "Change the email address"
    normalise: Callable[[str], str]  # as stored; ValidationError with the reason if unusable
    shown: Callable[[Any, "User"], str]  # as pages show it, from the device and its user
    deliver: Callable[[Any, "User", dict[str, Any]], None]  # hand a code over (after commit)
    send_label: str  # the login page's button: "Text a code to" +47...
    enrol_title: str  # the enrolment page's title
    enrol_heading: str  # and its heading
    # As the login page shows it before the second factor; None: as ``shown``.
    masked: Callable[[Any, "User"], str] | None = None


def _no_label(token: "Token") -> str:
    return ""


def _spoken_code(device: Device, code: str) -> str:
    return code


@dataclass(frozen=True, kw_only=True)
class KindSpec:
    kind: TokenKind  # as stored in Token.kind
    device_model: type[Device]
    device_name: str  # the device's name once it is a token (pending devices are named otherwise)
    enrol_view: str  # dotted path of the view(request, owner, spec) that enrols one
    enrol_form: type[forms.Form] | None  # what that view asks for
    test_hint: str  # what to enter on the token's test page
    offer_test: bool = True  # the token page offers a test (which spends a code)
    takes_codes: bool = True  # typed codes are its own (a passkey answers the browser's prompt instead)
    resyncs: bool = False  # reset means resynchronising the device's counter with two codes
    backup: bool = False  # a spare set of single-use codes, not a token to keep active
    destination: Destination | None = None  # receives codes: its edit page changes the destination
    device_label: Callable[["Token"], str] = _no_label  # the device as pages show it
    audit_names_device: bool = True  # the audit trail's label names the device too
    add_label: str = ""  # the "Add a token" button, when not the kind's name
    stored_code: Callable[[Device, str], str] = _spoken_code  # the value the device compares

    @property
    def label(self) -> str:
        """The default name; support's name for it (``selectors.type_names``) wins on pages."""
        return str(self.kind.label)

    @property
    def sends_codes(self) -> bool:
        return self.destination is not None

    @property
    def edit_label(self) -> str:
        return f"Change {self.destination.noun}" if self.destination else "Edit description"

    def describe(self, token: "Token") -> str:
        if self.destination is not None:
            return self.destination.shown(token.device, token.user)
        return self.device_label(token)

    def describe_before_login(self, token: "Token") -> str:
        if self.destination is not None and self.destination.masked is not None:
            return self.destination.masked(token.device, token.user)
        return self.describe(token)


TOTP = KindSpec(
    kind=TokenKind.TOTP,
    device_model=TOTPDevice,
    device_name="authenticator",
    enrol_view="tokens.views.enrol_authenticator",
    enrol_form=CodeForm,
    test_hint="The 6-digit code your authenticator app shows for this account now.",
)
HOTP = KindSpec(
    kind=TokenKind.HOTP,
    device_model=HOTPDevice,
    device_name="hardware",  # with the serial number
    enrol_view="tokens.views.enrol_hardware",
    enrol_form=HardwareTokenForm,
    test_hint="Press the token's button and enter the code it shows.",
    resyncs=True,
    device_label=lambda token: token.serial,
)
SMS = KindSpec(
    kind=TokenKind.SMS,
    device_model=SmsDevice,
    device_name="sms",
    enrol_view="tokens.views.enrol_destination",
    enrol_form=SmsNumberForm,
    test_hint="Send a code, then enter the code from the text message.",
    destination=Destination(
        field="number",
        noun="number",
        full_noun="number",
        normalise=validate_factor_phone_number,
        shown=lambda device, user: format_international(device.number),
        masked=lambda device, user: mask_phone_number(device.number),
        deliver=_text_code,
        send_label="Text a code to",
        enrol_title="Add a phone",
        enrol_heading="Add a phone for text-message codes",
    ),
)
EMAIL = KindSpec(
    kind=TokenKind.EMAIL,
    device_model=EmailCodeDevice,
    device_name="email",
    enrol_view="tokens.views.enrol_destination",
    enrol_form=EmailAddressForm,
    test_hint="Send a code, then enter the code from the email.",
    destination=Destination(
        field="email",
        noun="address",
        full_noun="email address",
        normalise=lambda address: address.strip().lower(),
        shown=lambda device, user: str(device.email or user.email),
        deliver=_email_code,
        send_label="Email a code to",
        enrol_title="Add an email address",
        enrol_heading="Add an email address for codes",
    ),
)
BACKUP = KindSpec(
    kind=TokenKind.BACKUP,
    device_model=StaticDevice,
    device_name="backup",
    enrol_view="tokens.views.enrol_backup_codes",
    enrol_form=None,
    test_hint="One of the backup codes, letters and digits. A code that passes is used up.",
    offer_test=False,
    backup=True,
    device_label=lambda token: f"{token.device.token_set.count()} codes left",
    audit_names_device=False,  # a count that changes with every code used
    add_label="New backup codes",
    stored_code=backup_codes.stored_value,  # kept as digests, see tokens/backup_codes.py
)

PASSKEY = KindSpec(
    kind=TokenKind.PASSKEY,
    device_model=PasskeyDevice,
    device_name="passkey",
    enrol_view="tokens.views.enrol_passkey",
    enrol_form=None,  # the browser's WebAuthn prompt makes it (tokens/passkeys.py, static/js/passkeys.js)
    test_hint="",
    offer_test=False,  # no code to type: a login with it is its test
    takes_codes=False,
)

KINDS: tuple[KindSpec, ...] = (TOTP, HOTP, SMS, EMAIL, BACKUP, PASSKEY)

_BY_VALUE: dict[str, KindSpec] = {spec.kind: spec for spec in KINDS}
# A token's device comes back through its content type, which names the concrete model (the
# email device's proxy, EmailCodeDevice, loads as django-otp's EmailDevice).
_BY_DEVICE_MODEL = {spec.device_model._meta.concrete_model: spec for spec in KINDS}

SENDERS: list[str] = [spec.kind for spec in KINDS if spec.sends_codes]
BACKUPS: list[str] = [spec.kind for spec in KINDS if spec.backup]
RESYNCABLE: list[str] = [spec.kind for spec in KINDS if spec.resyncs]


def find(value: str) -> KindSpec | None:
    return _BY_VALUE.get(value)


def get(value: str) -> KindSpec:
    return _BY_VALUE[value]


def of_device(device: Device) -> KindSpec:
    return _BY_DEVICE_MODEL[type(device)._meta.concrete_model]
