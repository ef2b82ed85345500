"""Support never reads a second-factor secret in the admin (issue 13 defect 8; SPEC §10).

Every admin URL a support user can reach is visited: the index and each app's index; for every
model the admin site registers, every URL pattern of its admin (changelist, add, change,
history, delete, and its own tools such as the token test page) filled in with the id of every
seeded object; the raw django-otp device pages by address, registered or not; the "delete
selected" confirmation of every changelist; and every admin link any of those pages shows.

The customers own a token of each kind (authenticator app, hardware token, text message, email,
backup codes, passkey) with a code waiting to be entered where the kind has one, and there is an object of
every other model, so each page shows something. No response may carry a secret: a key in hex or
base32, an ``otpauth://`` URI (what a QR code encodes), a QR image, a pending code, a backup code
or its stored digest, a platform key's plain text, or a customer's API key (nor its hash).

The walk runs as the group-based support user (production's support staff) and as a superuser
(the operator): hiding secrets is not a matter of permissions.
"""

import re
from base64 import b32encode
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.test import Client
from django.utils import timezone
from django.utils.html import strip_tags
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services as accounts
from accounts.models import User
from alarms import services as alarms
from alarms import webhooks
from alarms.models import WebhookDelivery, WebhookEndpoint
from apikeys import services as apikeys
from dashboard.models import DailyMethodCount, ErrorLog, FiveMinuteMethodCount, IngestedBatch, VaultStat, bucket_start
from extracts.models import ExtractRequest, ExtractSchedule, Frequency
from extracts.models import Status as ExtractStatus
from files import services as files
from platform_api import services as platform_keys
from support import services as support
from support.models import ResourceLink
from tests.billing.helpers import make_invoice
from tests.conftest import log_in
from tests.tokens.helpers import enrol_rfc_token
from tokens import services as tokens
from tokens.models import EmailCodeDevice, PasskeyDevice, SmsDevice, Token, TokenKind
from whitelist import services as whitelist

# A code waiting to be entered on the text-message and email devices (digits no page shows otherwise).
PENDING_SMS_CODE = "840317"
PENDING_EMAIL_CODE = "902614"
RAW_DEVICE_MODELS: tuple[type[models.Model], ...] = (
    TOTPDevice,
    HOTPDevice,
    StaticDevice,
    StaticToken,
    EmailDevice,
    SmsDevice,
)


@dataclass
class Seeded:
    secrets: dict[str, str] = field(default_factory=dict)  # what it is -> the text
    tokens: dict[str, Token] = field(default_factory=dict)  # kind -> a customer's token of that kind


def _side_channel_token(
    user: User, model: type[SmsDevice | EmailCodeDevice], kind: TokenKind, **fields: object
) -> Token:
    device = model.objects.create(user=user, name=kind.value, confirmed=True, **fields)
    return Token.objects.create(
        user=user, kind=kind, device_type=ContentType.objects.get_for_model(device), device_id=device.pk
    )


def seed(owner: User, member: User, outsider: User) -> Seeded:
    """A token of every kind and an object of every model the admin shows; returns their secrets."""
    seeded = Seeded()
    # Authenticator apps: every factory user has one (the support user too).
    seeded.tokens["totp"] = Token.objects.get(user=member, kind=TokenKind.TOTP)
    seeded.tokens["hotp"] = enrol_rfc_token(member, acting_user=owner, serial="HW-WALK-1")
    valid = timezone.now() + timedelta(minutes=5)
    seeded.tokens["sms"] = _side_channel_token(
        member, SmsDevice, TokenKind.SMS, number="+447700900123", token=PENDING_SMS_CODE, valid_until=valid
    )
    seeded.tokens["email"] = _side_channel_token(
        member,
        EmailCodeDevice,
        TokenKind.EMAIL,
        email="member@acme.example",
        token=PENDING_EMAIL_CODE,
        valid_until=valid,
    )
    codes = tokens.generate_backup_codes(user=member, acting_user=member)
    seeded.tokens["backup"] = Token.objects.get(user=member, kind=TokenKind.BACKUP)
    passkey = PasskeyDevice.objects.create(
        user=member, name="passkey", confirmed=True, credential_id="d2Fsay1rZXk", public_key=b"\xa5\x01\x02"
    )
    seeded.tokens["passkey"] = Token.objects.create(
        user=member,
        kind=TokenKind.PASSKEY,
        device_type=ContentType.objects.get_for_model(passkey),
        device_id=passkey.pk,
    )

    for device in [*TOTPDevice.objects.all(), *HOTPDevice.objects.all()]:
        what = f"{type(device).__name__} {device.pk} of {device.user.email}"
        seeded.secrets[f"{what}: key in hex"] = device.key
        seeded.secrets[f"{what}: key in base32"] = b32encode(device.bin_key).decode().rstrip("=")
        seeded.secrets[f"{what}: otpauth URI"] = device.config_url
    seeded.secrets["an otpauth URI"] = "otpauth://"
    seeded.secrets["the pending text-message code"] = PENDING_SMS_CODE
    seeded.secrets["the pending email code"] = PENDING_EMAIL_CODE
    for n, code in enumerate(codes):
        seeded.secrets[f"backup code {n}"] = code
    for stored in StaticToken.objects.all():
        seeded.secrets[f"backup code digest {stored.pk}"] = stored.token

    # Everything else support works with, so that each page has something on it.
    key, plain = platform_keys.issue_key(name="Walk reporter", acting_user=None)
    seeded.secrets["a platform key"] = plain
    organisation = member.organisation
    assert organisation is not None
    accounts.mark_organisation_verified(organisation=organisation, verified=True, acting_user=owner)
    support.request_company_details_change(acting_user=member, changes={"vat_number": "GB999999973"}, message="Moved")
    ticket = support.open_ticket(
        acting_user=member,
        subject="Card payments fail",
        body="Every card payment returns 502.",
        category="problem",
        files=[SimpleUploadedFile("log.txt", b"502 at 10:02\n", "text/plain")],
    )
    support.add_comment(ticket=ticket, acting_user=owner, body="Still failing.")
    ResourceLink.objects.create(title="Knowledge base", url="https://kb.example.com/", group="support")
    whitelist.add_entry(
        organisation=organisation, raw="198.51.100.7", description="Office", confirm_broad=False, acting_user=owner
    )
    api_key, api_secret = apikeys.create_key(
        organisation=organisation, name="Walk web shop", methods=["Tokenize"], acting_user=owner
    )
    apikeys.roll_key(key=api_key, overlap="1h", acting_user=owner)
    seeded.secrets["a customer's API key"] = api_secret
    for stored_secret in api_key.secrets.all():
        seeded.secrets[f"API key secret hash {stored_secret.prefix}"] = stored_secret.secret_hash
    files.upload_file(
        acting_user=member, section="compliance", upload=SimpleUploadedFile("passport.txt", b"Passport\n", "text/plain")
    )
    make_invoice(organisation, number="INV-WALK-1")
    make_invoice(organisation, number="INV-WALK-2", status="draft")
    today = date.today()
    DailyMethodCount.objects.create(organisation=organisation, method="Tokenize", day=today, calls=10, errors=1)
    ErrorLog.objects.create(
        organisation=organisation,
        at=timezone.now(),
        method="Tokenize",
        code="VAULT_UNAVAILABLE",
        message="The vault did not answer.",
        request_id="req-walk-1",
        source_ip="203.0.113.9",
    )
    IngestedBatch.objects.create(batch_id="walk-batch-1", key=key, events=1)
    VaultStat.objects.create(organisation=organisation, at=timezone.now(), token_count=1234)
    extract_file = files.store_file(
        organisation=organisation,
        section="extracts",
        name="token-extract-walk.csv.gz",
        content=ContentFile(b"not really gzip"),
        size=15,
        sha256="c" * 64,
        content_type="application/gzip",
        uploaded_by=owner,
    )
    ExtractRequest.objects.create(
        organisation=organisation, requested_by=owner, status=ExtractStatus.DONE, rows_written=1, file=extract_file
    )
    ExtractRequest.objects.create(
        organisation=organisation, requested_by=owner, status=ExtractStatus.FAILED, failure_reason="Vault down"
    )
    ExtractSchedule.objects.create(
        organisation=organisation,
        frequency=Frequency.WEEKLY,
        first_run_at=timezone.now(),
        next_run_at=timezone.now(),
        created_by=owner,
    )
    FiveMinuteMethodCount.objects.create(
        organisation=organisation, method="Tokenize", start=bucket_start(timezone.now()), calls=10, errors=1
    )
    alarm = alarms.create_alarm(
        organisation=organisation,
        data=alarms.AlarmInput(
            name="Tokenize failing", method="", metric="error_count", window_minutes=5, threshold="1", recipient_ids=[]
        ),
        acting_user=owner,
    )
    alarms.evaluate_alarm(alarm_id=alarm.pk, now=timezone.now())  # fires: the failed call above is in its window
    endpoint = WebhookEndpoint.objects.create(
        organisation=organisation, url="https://hooks.acme.example/portal", secret="", secret_created_at=timezone.now()
    )
    endpoint.secret = seeded.secrets["a webhook signing secret"] = webhooks.new_secret()
    endpoint.previous_secret = seeded.secrets["a previous webhook signing secret"] = webhooks.new_secret()
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=1)
    endpoint.save()
    WebhookDelivery.objects.create(
        organisation=organisation, event_id="evt_walk", event_type="webhook.test", body="{}", created_at=timezone.now()
    )
    # A failed login, for the lockout pages (django-axes) a superuser sees.
    Client().post("/login/", {"username": outsider.email, "password": "not the password"})
    return seeded


# --- The walk ---------------------------------------------------------------------------------------

ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>")
ADMIN_LINK = re.compile(r"""(?:href|src)=["'](/admin/[^"'?#]*)""")


def _ids(model: type[models.Model]) -> list[str]:
    return [str(pk) for pk in model._default_manager.order_by("pk").values_list("pk", flat=True)]


def _fill(route: str, model: type[models.Model]) -> list[str]:
    """The route with its one id argument replaced by each id there is (a user's, or the model's)."""
    names = ARGUMENT.findall(route)
    if not names:
        return [route]
    assert len(names) == 1, f"an admin URL with several arguments: {route}"
    ids = _ids(User if names[0] == "user_id" else model)
    return [ARGUMENT.sub(pk, route) for pk in ids]


def admin_urls() -> list[str]:
    """Every URL of the admin site, with every object's id: for each registered model, then the raw devices."""
    urls = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        prefix = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls.append(f"/admin/{model._meta.app_label}/")
        for pattern in model_admin.get_urls():
            urls += [prefix + route for route in _fill(str(pattern.pattern), model)]
    for model in RAW_DEVICE_MODELS:  # by address: reachable or not, whatever is registered
        prefix = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls.append(prefix)
        for pk in _ids(model):
            urls += [f"{prefix}{pk}/change/", f"{prefix}{pk}/history/", f"{prefix}{pk}/delete/"]
            urls += [f"{prefix}{pk}/config/", f"{prefix}{pk}/qrcode/"]
    return list(dict.fromkeys(urls))


def _body(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse | StreamingHttpResponse)
    return response.getvalue().decode("utf-8", errors="replace")  # a file download's stream too


@dataclass
class Visit:
    url: str
    status: int
    content_type: str
    body: str


def walk(client: Client) -> dict[str, Visit]:
    """GET every admin URL, and every admin link on any page, once; then each "delete selected" page."""
    visits: dict[str, Visit] = {}
    queue = deque(admin_urls())
    seen = set(queue)
    while queue:
        url = queue.popleft()
        response = client.get(url)
        body = _body(response)
        visits[url] = Visit(url, response.status_code, response.get("Content-Type", ""), body)
        if response.status_code != 200:
            continue
        for link in ADMIN_LINK.findall(body):
            if link not in seen and not link.startswith("/admin/logout/"):
                seen.add(link)
                queue.append(link)
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        # Without "post": the confirmation page only, which lists the objects; nothing is deleted.
        response = client.post(changelist, {"action": "delete_selected", "_selected_action": _ids(model)})
        body = _body(response)
        visits[f"POST {changelist} delete_selected"] = Visit(
            changelist, response.status_code, response.get("Content-Type", ""), body
        )
    return visits


def leaks(visits: Iterable[Visit], secrets: dict[str, str]) -> list[str]:
    found = []
    for visit in visits:
        if visit.status == 200 and visit.content_type.startswith("image/"):
            found.append(f"{visit.url}: an image ({visit.content_type}), such as a QR code")
        if "data:image" in visit.body:
            found.append(f"{visit.url}: an inline image, such as a QR code")
        text = visit.body.lower()
        found += [f"{visit.url}: {what}" for what, secret in secrets.items() if secret.lower() in text]
    return found


@pytest.mark.parametrize("who", ["support_staff", "superuser"])
def test_no_admin_page_shows_a_second_factor_secret(request, who, owner, member, outsider):
    staff = request.getfixturevalue(who)
    seeded = seed(owner, member, outsider)
    for user in (owner, member, outsider, staff):
        for device in TOTPDevice.objects.filter(user=user):
            assert device.key in seeded.secrets.values()  # every authenticator app's key is looked for

    visits = walk(log_in(Client(), staff))

    found = leaks(visits.values(), seeded.secrets)
    assert not found, "Secrets in the admin:\n" + "\n".join(found)
    # The walk saw what support works with: every kind of token, on its own page.
    for kind, token in seeded.tokens.items():
        page = visits[f"/admin/tokens/token/{token.pk}/change/"]
        assert (kind, page.status) == (kind, 200)
        assert token.user.email in page.body
    # And none of the raw device pages answers.
    for model in RAW_DEVICE_MODELS:
        prefix = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert [v.url for v in visits.values() if v.url.startswith(prefix) and v.status == 200] == []
    assert len(visits) > 200


# --- Readable labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["support_staff", "superuser"])
def test_admin_pages_name_things_as_people_say_them(request, who, owner, member, outsider):
    """No "StaticToken object (26)", no "Otp_Email": the admin speaks the portal's words."""
    staff = request.getfixturevalue(who)
    seed(owner, member, outsider)

    visits = walk(log_in(Client(), staff))

    shown = [v for v in visits.values() if v.status == 200 and v.content_type.startswith("text/html")]
    assert len(shown) > 100
    if who == "superuser":
        # Django's own delete confirmations list a group's many-to-many rows ("Group_permissions
        # object (28)"): only the operator sees those pages, and the words are Django's.
        shown = [v for v in shown if not v.url.startswith("/admin/auth/group/")]
    unnamed = [v.url for v in shown if "object (" in strip_tags(v.body)]
    assert not unnamed, "Pages naming something 'object (n)':\n" + "\n".join(unnamed)
    raw_labels = {
        label
        for app_label in ("otp_totp", "otp_hotp", "otp_static", "otp_email", "two_factor", "django_otp")
        for label in (app_label, app_label.upper(), app_label.title())
    }
    index_text = strip_tags(visits["/admin/"].body)
    assert [label for label in raw_labels if label in index_text] == []
    for visit in shown:
        if visit.url.count("/") == 4 and visit.url.endswith("/"):  # /admin/<app>/<model>/: a changelist
            assert [label for label in raw_labels if label in strip_tags(visit.body)] == [], visit.url
