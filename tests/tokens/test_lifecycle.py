"""A token's life: enrolment and its input errors, ACTIVE / DISABLED / EXPIRED, lock and unlock,
testing a token, backup codes, deletion, and the audit row each action leaves.

The member (same organisation as the owner) starts with an authenticator app from the factory;
hardware tokens hold the RFC 4226 seed, so their codes are known (``code_at``).
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.test import RequestFactory
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import UserFactory
from tests.tokens.helpers import (
    RFC_SEED,
    SEED_HEX,
    audit_mark,
    audit_since,
    code_at,
    code_outside,
    during,
    enrol_rfc_token,
    fresh,
    let_throttle_pass,
    rfc4226,
    settings_under_environment,
)
from tokens import kinds, selectors, services
from tokens.backup_codes import digest as backup_code_digest
from tokens.forms import HardwareTokenForm
from tokens.models import Token, TokenKind, TokenStatus

LOCK_AFTER = django_settings.TOKEN_LOCK_AFTER_FAILURES
# Six digits that the RFC token shows at no counter in the whole look-ahead window.
NOT_A_RFC_CODE = code_outside({code_at(c) for c in range(django_settings.HOTP_RESYNC_WINDOW + 10)})


def authenticator_of(user: User) -> Token:
    return Token.objects.get(user=user, kind=TokenKind.TOTP)


def authenticator_code(token: Token) -> str:
    device = token.device
    return str(TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()).zfill(device.digits)


def wrong_authenticator_code(token: Token) -> str:
    device = token.device
    near = set()
    for drift in range(-3, 4):
        near.add(str(TOTP(device.bin_key, device.step, device.t0, device.digits, drift).token()).zfill(6))
    return code_outside(near)


def log_in_with(user: User, code: str) -> services.Verification:
    return services.verify_login_code(user=user, code=code)


@pytest.fixture
def hardware(member, owner) -> Token:
    return enrol_rfc_token(member, acting_user=owner, serial="HW-0001")


# --- Enrolment ----------------------------------------------------------------------------------


def test_admin_enrols_a_hardware_token_for_a_member(member, owner, django_capture_on_commit_callbacks):
    expires = timezone.now() + timedelta(days=365)

    with django_capture_on_commit_callbacks(execute=True):
        token = services.enrol_hotp(
            user=member,
            serial=" HW-0001 ",
            secret=SEED_HEX,
            digits=6,
            expires_at=expires,
            code=code_at(0),
            description="Desk token",
            acting_user=owner,
        )

    token = fresh(token)
    assert (token.kind, token.serial, token.description, token.expires_at) == (
        TokenKind.HOTP,
        "HW-0001",
        "Desk token",
        expires,
    )
    assert token.status == TokenStatus.ACTIVE
    assert token.device_label == "HW-0001"
    (notice,) = mail.outbox
    assert notice.to == [member.email]
    assert (
        "A new second factor (Hardware token) was added to your account by Olivia Owner (owner@acme.example)"
        in notice.body
    )


def test_eight_digit_hardware_token_is_enrolled_and_used(member, owner):
    token = services.enrol_hotp(
        user=member,
        serial="HW-8",
        secret=SEED_HEX,
        digits=8,
        expires_at=None,
        code=rfc4226(RFC_SEED, 0, 8),
        acting_user=owner,
    )

    result = log_in_with(member, rfc4226(RFC_SEED, 1, 8))
    assert result.token is not None and result.token.pk == token.pk


IN_THE_PAST = object()

BAD_ENROLMENTS = [
    pytest.param({"secret": "not a secret!"}, "secret", "hexadecimal or base32", id="secret-not-hex-or-base32"),
    pytest.param({"secret": "   "}, "secret", "Enter the token's secret", id="secret-missing"),
    pytest.param({"secret": RFC_SEED[:8].hex()}, "secret", "between 10 and 40 bytes", id="secret-too-short"),
    pytest.param({"secret": "31" * 41}, "secret", "between 10 and 40 bytes", id="secret-too-long"),
    pytest.param({"code": NOT_A_RFC_CODE}, "code", "does not match this secret", id="code-wrong"),
    pytest.param({"code": "75a224"}, "code", "does not match this secret", id="code-not-digits"),
    pytest.param({"code": ""}, "code", "does not match this secret", id="code-missing"),
    pytest.param({"expires_at": IN_THE_PAST}, "expires_at", "must be in the future", id="expiry-in-the-past"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_ENROLMENTS)
def test_bad_enrolment_input_names_the_field_and_stores_nothing(
    member, owner, django_capture_on_commit_callbacks, change, field, message
):
    values = {"serial": "HW-0001", "secret": SEED_HEX, "digits": 6, "expires_at": None, "code": code_at(0)}
    values.update(change)
    if values["expires_at"] is IN_THE_PAST:
        values["expires_at"] = timezone.now() - timedelta(minutes=1)
    mark = audit_mark()

    with django_capture_on_commit_callbacks(execute=True):
        try:
            services.enrol_hotp(user=member, acting_user=owner, **values)
        except ValidationError as exc:
            refused = exc
        else:
            pytest.fail(f"enrol_hotp accepted {change} and registered a hardware token instead of naming {field!r}")

    assert field in refused.message_dict, f"error does not name {field!r}: {refused.message_dict}"
    assert message in " ".join(refused.message_dict[field])
    assert not HOTPDevice.objects.filter(user=member).exists()
    assert not Token.objects.filter(user=member, kind=TokenKind.HOTP).exists()
    assert audit_since(mark) == []
    assert mail.outbox == []


# The serial number and the number of digits are checked by the enrolment form before the service.
@pytest.mark.parametrize(
    ("change", "field"),
    [({"serial": "  "}, "serial"), ({"serial": "HW 0001"}, "serial"), ({"digits": "7"}, "digits")],
    ids=["serial-missing", "serial-with-space", "digits-not-6-or-8"],
)
def test_hardware_token_form_refuses_a_bad_serial_or_digits(change, field):
    data = {"serial": "HW-0001", "secret": SEED_HEX, "digits": "6", "code": code_at(0)}
    data.update(change)

    form = HardwareTokenForm(data)

    assert not form.is_valid()
    assert list(form.errors) == [field]


@pytest.mark.parametrize("serial", ["HW-0001", " HW-0001 "])
def test_serial_already_registered_in_the_organisation_is_refused(member, owner, serial):
    colleague = UserFactory.create(organisation=member.organisation)
    enrol_rfc_token(colleague, acting_user=owner, serial="HW-0001")

    with pytest.raises(ValidationError) as refused:
        enrol_rfc_token(member, acting_user=owner, serial=serial)

    assert refused.value.message_dict["serial"] == ["A hardware token with this serial number is already registered."]
    assert not HOTPDevice.objects.filter(user=member).exists()
    assert not Token.objects.filter(user=member, kind=TokenKind.HOTP).exists()


def test_same_serial_in_another_organisation_is_accepted(member, owner, outsider):
    enrol_rfc_token(outsider, acting_user=outsider, serial="HW-0001")

    token = enrol_rfc_token(member, acting_user=owner, serial="HW-0001")

    assert token.serial == "HW-0001"


# --- EXPIRED ------------------------------------------------------------------------------------


def expire(token: Token) -> Token:
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    return fresh(token)


def test_token_past_its_expiry_is_expired(member, owner):
    token = enrol_rfc_token(member, acting_user=owner, expires_at=timezone.now() + timedelta(days=1))
    assert fresh(token).status == TokenStatus.ACTIVE

    assert expire(token).status == TokenStatus.EXPIRED


def test_expired_token_is_refused_at_login_with_a_message_saying_expired(member, owner):
    token = expire(enrol_rfc_token(member, acting_user=owner, expires_at=timezone.now() + timedelta(days=1)))

    result = log_in_with(member, code_at(1))

    assert result.token is None
    assert "expired" in result.error
    assert AuditEvent.objects.filter(action="login.refused_token", actor=member).count() == 1
    assert fresh(token).status == TokenStatus.EXPIRED


def test_refusing_an_expired_token_does_not_spend_its_code(member, owner):
    token = expire(enrol_rfc_token(member, acting_user=owner, expires_at=timezone.now() + timedelta(days=1)))
    assert log_in_with(member, code_at(1)).token is None

    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=30))
    let_throttle_pass(member)

    assert log_in_with(member, code_at(1)).token is not None


def test_expired_token_cannot_be_tested(member, owner):
    token = expire(enrol_rfc_token(member, acting_user=owner, expires_at=timezone.now() + timedelta(days=1)))

    with pytest.raises(ValidationError, match="expired"):
        services.test_token(token=token, code=code_at(1), acting_user=member)


# --- DISABLED -----------------------------------------------------------------------------------


def test_disabled_token_is_refused_and_works_again_once_enabled(member, owner, hardware):
    services.set_enabled(token=fresh(hardware), enabled=False, acting_user=owner)
    assert fresh(hardware).status == TokenStatus.DISABLED

    refused = log_in_with(member, code_at(1))
    assert refused.token is None
    assert "disabled" in refused.error

    services.set_enabled(token=fresh(hardware), enabled=True, acting_user=owner)
    assert fresh(hardware).status == TokenStatus.ACTIVE
    let_throttle_pass(member)
    accepted = log_in_with(member, code_at(1))
    assert accepted.token is not None and accepted.token.pk == hardware.pk


def test_disabled_token_cannot_be_tested(member, owner, hardware):
    services.set_enabled(token=fresh(hardware), enabled=False, acting_user=owner)

    with pytest.raises(ValidationError, match="disabled"):
        services.test_token(token=fresh(hardware), code=code_at(1), acting_user=owner)

    assert HOTPDevice.objects.get(pk=hardware.device_id).counter == 1


def test_disabled_token_that_is_also_expired_shows_disabled(member, owner):
    token = expire(enrol_rfc_token(member, acting_user=owner, expires_at=timezone.now() + timedelta(days=1)))
    services.set_enabled(token=token, enabled=False, acting_user=owner)

    assert fresh(token).status == TokenStatus.DISABLED


# --- Lock after consecutive wrong codes ----------------------------------------------------------


def fail_codes(user: User, wrong_code: str, times: int) -> None:
    for _ in range(times):
        let_throttle_pass(user)  # the back-off delay after each wrong code has passed
        result = log_in_with(user, wrong_code)
        assert result.token is None


def test_lock_limit_is_ten_consecutive_failures():
    assert LOCK_AFTER == 10


def test_token_locks_after_ten_consecutive_wrong_codes(member):
    token = authenticator_of(member)
    wrong = wrong_authenticator_code(token)

    fail_codes(member, wrong, LOCK_AFTER - 1)
    assert not fresh(token).is_locked

    fail_codes(member, wrong, 1)
    assert fresh(token).is_locked
    assert AuditEvent.objects.filter(action="token.locked", subject_user=member).count() == 1


def test_locked_token_refuses_the_right_code_saying_locked(member):
    token = authenticator_of(member)
    fail_codes(member, wrong_authenticator_code(token), LOCK_AFTER)
    let_throttle_pass(member)

    result = log_in_with(member, authenticator_code(fresh(token)))

    assert result.token is None, "a locked token let the user in"
    assert "locked" in result.error, (
        f"the right code on a locked token is answered {result.error!r}: the user is not told the token is "
        "locked (verify_login_code skips locked tokens when explaining a refusal)"
    )


def test_unlock_lets_the_right_code_in_again(member, owner):
    token = authenticator_of(member)
    fail_codes(member, wrong_authenticator_code(token), LOCK_AFTER)

    services.unlock(token=fresh(token), acting_user=owner)

    assert not fresh(token).is_locked
    result = log_in_with(member, authenticator_code(fresh(token)))
    assert result.token is not None and result.token.pk == token.pk


def test_a_right_code_resets_the_count_of_failures(member, owner, hardware):
    # The hardware token's codes are known in advance, so the right code is never a replay.
    fail_codes(member, NOT_A_RFC_CODE, LOCK_AFTER - 1)
    let_throttle_pass(member)
    assert log_in_with(member, code_at(1)).token is not None

    fail_codes(member, NOT_A_RFC_CODE, LOCK_AFTER - 1)

    assert not fresh(hardware).is_locked


def test_lock_limit_comes_from_settings(member, settings):
    settings.TOKEN_LOCK_AFTER_FAILURES = 3
    token = authenticator_of(member)

    fail_codes(member, wrong_authenticator_code(token), 3)

    assert fresh(token).is_locked


def test_lock_limit_is_never_above_100_whatever_the_environment():
    assert settings_under_environment(TOKEN_LOCK_AFTER_FAILURES="500")["lock"] == 100
    assert settings_under_environment(TOKEN_LOCK_AFTER_FAILURES="25")["lock"] == 25


def test_logging_in_with_one_token_does_not_count_against_the_others(member, owner, hardware):
    authenticator = authenticator_of(member)

    for counter in range(1, LOCK_AFTER + 1):
        let_throttle_pass(member)  # a day between logins
        result = log_in_with(member, code_at(counter))
        assert result.token is not None and result.token.pk == hardware.pk

    failures = fresh(authenticator).device.throttling_failure_count
    assert failures == 0, (
        f"{LOCK_AFTER} successful logins with the hardware token left the authenticator app with {failures} "
        "failures (locked: verify_login_code counts a code that another token accepted as a wrong code)"
    )


def test_authenticator_works_right_after_a_login_with_the_hardware_token(member, owner, hardware):
    authenticator = authenticator_of(member)
    assert log_in_with(member, code_at(1)).token is not None

    result = log_in_with(member, authenticator_code(fresh(authenticator)))

    assert result.token is not None, (
        f"the authenticator app is throttled right after a successful hardware-token login: {result.error!r}"
    )


# --- Testing a token ----------------------------------------------------------------------------


def test_testing_a_token_logs_nobody_in(client, member, owner, hardware):
    mark = audit_mark()

    assert services.test_token(token=fresh(hardware), code=code_at(1), acting_user=member)

    assert "_auth_user_id" not in client.session
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/login/")
    assert [e.action for e in audit_since(mark)] == ["token.test_passed"]


def test_testing_a_token_spends_the_code(member, hardware):
    assert services.test_token(token=fresh(hardware), code=code_at(1), acting_user=member)

    assert not services.test_token(token=fresh(hardware), code=code_at(1), acting_user=member)
    let_throttle_pass(member)
    assert log_in_with(member, code_at(1)).token is None


def test_testing_a_token_with_a_wrong_code_fails(member, hardware):
    assert not services.test_token(token=fresh(hardware), code=NOT_A_RFC_CODE, acting_user=member)

    assert AuditEvent.objects.filter(action="token.test_failed", subject_user=member).count() == 1


# --- Backup codes -------------------------------------------------------------------------------


def test_ten_backup_codes_each_log_in_once(member):
    codes = services.generate_backup_codes(user=member, acting_user=member)

    assert len(codes) == 10
    assert len(set(codes)) == 10
    backup = Token.objects.get(user=member, kind=TokenKind.BACKUP)
    assert backup.device_label == "10 codes left"
    for code in codes:
        let_throttle_pass(member)
        result = log_in_with(member, code)
        assert result.token is not None and result.token.pk == backup.pk, f"backup code {code} refused"
    assert fresh(backup).device_label == "0 codes left"

    let_throttle_pass(member)
    assert log_in_with(member, codes[0]).token is None


def test_new_backup_codes_replace_the_old_ones(member):
    old = services.generate_backup_codes(user=member, acting_user=member)

    new = services.generate_backup_codes(user=member, acting_user=member)

    assert not set(old) & set(new)
    assert log_in_with(member, old[0]).token is None
    let_throttle_pass(member)
    assert log_in_with(member, new[0]).token is not None
    assert Token.objects.filter(user=member, kind=TokenKind.BACKUP).count() == 1
    assert StaticDevice.objects.filter(user=member).count() == 1
    assert StaticToken.objects.filter(device__user=member).count() == 9


# --- Delete -------------------------------------------------------------------------------------


def test_deleting_a_token_removes_it_and_its_device(member, owner, hardware):
    services.delete_token(token=fresh(hardware), acting_user=owner)

    assert not Token.objects.filter(pk=hardware.pk).exists()
    assert not HOTPDevice.objects.filter(pk=hardware.device_id).exists()
    assert Token.objects.filter(user=member, kind=TokenKind.TOTP).exists()
    assert log_in_with(member, code_at(1)).token is None


def test_deleting_backup_codes_removes_every_code(member):
    services.generate_backup_codes(user=member, acting_user=member)

    services.delete_token(token=Token.objects.get(user=member, kind=TokenKind.BACKUP), acting_user=member)

    assert not StaticDevice.objects.filter(user=member).exists()
    assert not StaticToken.objects.filter(device__user=member).exists()


def test_deleting_the_only_token_leaves_no_active_token(member):
    assert services.leaves_no_active_token(authenticator_of(member))


def test_deleting_one_of_two_active_tokens_leaves_an_active_token(member, hardware):
    assert not services.leaves_no_active_token(authenticator_of(member))
    assert not services.leaves_no_active_token(fresh(hardware))


def test_disabled_or_expired_tokens_do_not_count_as_active(member, owner, hardware):
    services.set_enabled(token=fresh(hardware), enabled=False, acting_user=owner)
    assert services.leaves_no_active_token(authenticator_of(member))

    services.set_enabled(token=fresh(hardware), enabled=True, acting_user=owner)
    expire(hardware)
    assert services.leaves_no_active_token(authenticator_of(member))


def test_backup_codes_do_not_count_as_an_active_token(member):
    services.generate_backup_codes(user=member, acting_user=member)

    assert services.leaves_no_active_token(authenticator_of(member))


# --- Who may reach a token ----------------------------------------------------------------------


def test_owner_and_member_reach_the_members_token(member, owner, hardware):
    assert selectors.access_token(actor=owner, token_id=hardware.pk).pk == hardware.pk
    assert selectors.access_token(actor=member, token_id=hardware.pk).pk == hardware.pk


def test_another_organisations_admin_gets_404_for_a_token(outsider, hardware):
    with pytest.raises(Http404):
        selectors.access_token(actor=outsider, token_id=hardware.pk)


def test_a_plain_user_gets_404_for_a_colleagues_token(member, owner, hardware):
    colleague = UserFactory.create(organisation=member.organisation)

    with pytest.raises(Http404):
        selectors.access_token(actor=colleague, token_id=hardware.pk)


# --- One audit row per action -------------------------------------------------------------------


@dataclass
class Scene:
    member: User
    owner: User
    hardware: Token
    request: HttpRequest


Action = Callable[[], Token | None]


def enrol(s: Scene) -> tuple[str, Action]:
    def run() -> Token:
        return services.enrol_hotp(
            user=s.member,
            serial="HW-0002",
            secret=SEED_HEX,
            digits=6,
            expires_at=None,
            code=code_at(0),
            acting_user=s.owner,
        )

    return "token.enrolled", run


def confirm_authenticator(s: Scene) -> tuple[str, Action]:
    def run() -> Token | None:
        device = services.start_totp(user=s.member)
        code = str(TOTP(device.bin_key).token()).zfill(6)
        return services.confirm_totp(user=s.member, device=device, code=code, acting_user=s.owner)

    return "token.enrolled", run


def confirm_email(s: Scene) -> tuple[str, Action]:
    def run() -> Token | None:
        device = services.start_destination(
            user=s.member, spec=kinds.EMAIL, destination="max.alt@acme.example", acting_user=s.owner
        )
        code = EmailDevice.objects.get(pk=device.pk).token or ""
        return services.confirm_destination(user=s.member, device=device, code=code, acting_user=s.owner)

    return "token.enrolled", run


def backup_codes(s: Scene) -> tuple[str, Action]:
    def run() -> Token:
        services.generate_backup_codes(user=s.member, acting_user=s.owner)
        return Token.objects.get(user=s.member, kind=TokenKind.BACKUP)

    return "token.enrolled", run


def disable(s: Scene) -> tuple[str, Action]:
    return "token.disabled", lambda: services.set_enabled(token=fresh(s.hardware), enabled=False, acting_user=s.owner)


def enable(s: Scene) -> tuple[str, Action]:
    services.set_enabled(token=fresh(s.hardware), enabled=False, acting_user=s.owner)
    return "token.enabled", lambda: services.set_enabled(token=fresh(s.hardware), enabled=True, acting_user=s.owner)


def edit(s: Scene) -> tuple[str, Action]:
    return "token.edited", lambda: services.update_description(
        token=fresh(s.hardware), description="Spare token", acting_user=s.owner
    )


def unlock(s: Scene) -> tuple[str, Action]:
    HOTPDevice.objects.filter(pk=s.hardware.device_id).update(throttling_failure_count=LOCK_AFTER)
    assert fresh(s.hardware).is_locked
    return "token.unlocked", lambda: services.unlock(token=fresh(s.hardware), acting_user=s.owner)


def passing_test(s: Scene) -> tuple[str, Action]:
    def run() -> None:
        assert services.test_token(token=fresh(s.hardware), code=code_at(1), acting_user=s.owner)

    return "token.test_passed", run


def failing_test(s: Scene) -> tuple[str, Action]:
    def run() -> None:
        assert not services.test_token(token=fresh(s.hardware), code=NOT_A_RFC_CODE, acting_user=s.owner)

    return "token.test_failed", run


def resync(s: Scene) -> tuple[str, Action]:
    def run() -> None:
        assert services.resync_hotp(
            token=fresh(s.hardware),
            first_code=code_at(300),
            second_code=code_at(301),
            acting_user=s.owner,
        )

    return "token.resync", run


def resync_failed(s: Scene) -> tuple[str, Action]:
    def run() -> None:
        assert not services.resync_hotp(
            token=fresh(s.hardware),
            first_code=code_at(301),
            second_code=code_at(300),
            acting_user=s.owner,
        )

    return "token.resync_failed", run


def delete(s: Scene) -> tuple[str, Action]:
    return "token.deleted", lambda: services.delete_token(token=fresh(s.hardware), acting_user=s.owner)


@pytest.mark.parametrize(
    "action",
    [
        enrol,
        confirm_authenticator,
        confirm_email,
        backup_codes,
        disable,
        enable,
        edit,
        unlock,
        passing_test,
        failing_test,
        resync,
        resync_failed,
        delete,
    ],
    ids=lambda f: f.__name__,
)
def test_each_action_writes_one_audit_row_naming_who_whose_and_what(member, owner, hardware, action):
    scene = Scene(member, owner, hardware, RequestFactory().post("/", REMOTE_ADDR="203.0.113.9"))
    expected, run = action(scene)
    mark = audit_mark()

    with during(scene.request):  # services are not handed the request: the audit context knows it
        token = run() or hardware

    events = audit_since(mark)
    assert [e.action for e in events] == [expected]
    (event,) = events
    assert event.actor == owner
    assert event.actor_label == owner.email
    assert event.subject_user == member
    assert event.organisation == member.organisation
    assert f"#{token.pk}" in event.target_label
    assert token.get_kind_display() in event.target_label
    assert event.ip_address == "203.0.113.9"


def test_enrolment_without_a_request_records_no_address(member, owner):
    mark = audit_mark()

    enrol_rfc_token(member, acting_user=owner, serial="HW-0002")

    (event,) = audit_since(mark)
    assert event.ip_address is None


def test_backup_codes_are_stored_as_keyed_digests_not_as_the_codes(member):
    codes = services.generate_backup_codes(user=member, acting_user=member)

    stored = set(StaticToken.objects.filter(device__user=member).values_list("token", flat=True))
    assert len(stored) == len(codes)
    assert not stored & set(codes)
    assert all(len(value) == 16 and value not in code for value in stored for code in codes)
    # Still a working code, however it is typed.
    assert services.verify_login_code(user=member, code=codes[0].upper()).token is not None


def test_backup_codes_survive_a_secret_key_rotation_until_the_old_key_is_dropped(member, settings):
    codes = services.generate_backup_codes(user=member, acting_user=member)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    assert services.verify_login_code(user=member, code=codes[0]).token is not None

    settings.SECRET_KEY_FALLBACKS = []
    assert services.verify_login_code(user=member, code=codes[1]).token is None


def test_plain_backup_codes_from_before_digests_are_converted_and_still_work(member):
    migration = importlib.import_module("tokens.migrations.0004_backup_codes_as_digests")
    device = StaticDevice.objects.create(user=member, name="backup", confirmed=True)
    Token.objects.create(user=member, kind=TokenKind.BACKUP, device=device)
    StaticToken.objects.create(device=device, token="1a2b3c4d")  # as django-otp stored it

    migration.codes_to_digests(django_apps, None)
    migration.codes_to_digests(django_apps, None)  # run twice: digests are left alone

    assert list(device.token_set.values_list("token", flat=True)) == [backup_code_digest("1a2b3c4d")]
    assert services.verify_login_code(user=member, code="1a2b3c4d").token is not None
