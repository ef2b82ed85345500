"""Text messages through Twilio, exercised end to end through the Twilio client's own HTTP seam.

Twilio is the one outside service: the real ``twilio.rest.Client`` builds and sends each request,
and only its ``http_client`` (``common.sms.twilio_http_client``) is a recording stand-in.
"""

import re

import pytest
import requests
from celery.exceptions import Retry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from twilio.base.exceptions import TwilioRestException

from accounts import tasks
from accounts.models import User
from accounts.phones import validate_factor_phone_number
from portal.celery import app as celery_app
from tests.conftest import log_in
from tests.factories import PASSWORD, UserFactory
from tests.twilio_http import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, MESSAGES_URL, TO_NUMBER, RecordingTwilioHttp
from tokens.models import SmsDevice, Token, TokenKind


def test_text_message_is_posted_to_the_accounts_messages_endpoint(twilio):
    result = tasks.send_sms.delay(to=TO_NUMBER, body="Your code is 123456")

    assert result.get() == "SM" + "f" * 32
    (request,) = twilio.requests
    assert request["method"] == "POST"
    assert request["uri"] == MESSAGES_URL
    assert request["data"] == {"To": TO_NUMBER, "From": FROM_NUMBER, "Body": "Your code is 123456"}
    assert request["auth"] == (ACCOUNT_SID, AUTH_TOKEN)


def test_console_backend_sends_nothing_to_twilio(twilio, settings, capsys):
    settings.SMS_BACKEND = "console"

    tasks.send_sms.delay(to=TO_NUMBER, body="Your code is 123456")

    assert twilio.requests == []
    assert f"[SMS to {TO_NUMBER}] Your code is 123456" in capsys.readouterr().out


@pytest.mark.parametrize("status", [503, 500, 429])
def test_twilio_trouble_makes_the_task_retry(twilio, status):
    twilio.fail_next(status)

    with pytest.raises(Retry):
        tasks.send_sms.delay(to=TO_NUMBER, body="Your code is 123456")

    assert len(twilio.sent) == 1


def test_message_is_delivered_on_retry_after_twilio_trouble(twilio, worker_like):
    twilio.fail_next(503, 503)

    result = tasks.send_sms.delay(to=TO_NUMBER, body="Your code is 123456")

    assert result.successful()
    assert result.result == "SM" + "f" * 32
    assert len(twilio.sent) == 3
    assert all(r["data"]["Body"] == "Your code is 123456" for r in twilio.sent)


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ConnectionError("Connection refused"),
        requests.exceptions.ReadTimeout("Read timed out"),
    ],
)
def test_network_failure_reaching_twilio_makes_the_task_retry(twilio, worker_like, failure):
    twilio.fail_next(failure)

    result = tasks.send_sms.delay(to=TO_NUMBER, body="Your code is 123456")

    assert result.successful()
    assert len(twilio.sent) == 2


def test_retries_stop_after_the_maximum(twilio, worker_like):
    twilio.fail_next(*[503] * 20)

    result = tasks.send_sms.delay(to=TO_NUMBER, body="Your code is 123456")

    assert result.failed()
    assert len(twilio.sent) == tasks.send_sms.max_retries + 1


@pytest.mark.parametrize("status", [400, 401, 404])
def test_refused_message_is_not_retried(twilio, status):
    twilio.fail_next(status)

    with pytest.raises(TwilioRestException) as refused:
        tasks.send_sms.delay(to=TO_NUMBER, body="Your code is 123456")

    assert refused.value.status == status
    assert len(twilio.sent) == 1


def test_login_code_for_a_fallback_phone_goes_out_through_twilio(
    twilio, client, member, django_capture_on_commit_callbacks
):
    device = SmsDevice.objects.create(user=member, name="sms", number=TO_NUMBER, confirmed=True)
    phone = Token.objects.create(
        user=member, kind=TokenKind.SMS, device_type=ContentType.objects.get_for_model(device), device_id=device.pk
    )
    assert client.post("/login/", {"username": member.email, "password": PASSWORD}).url == "/login/code/"

    with django_capture_on_commit_callbacks(execute=True):
        page = client.post("/login/code/", {"send": str(phone.pk)}, follow=True)

    # Before the second factor the page shows only the number's last four digits.
    assert "We sent a code to •••• •• 3456." in page.content.decode()
    assert "7400 123456" not in page.content.decode()
    (request,) = twilio.sent
    body = str(request["data"]["Body"])
    assert request["data"]["To"] == TO_NUMBER
    code = re.search(r"security code is (\d{6})", body)
    assert code is not None
    response = client.post("/login/code/", {"code": code.group(1)})
    assert response.url == "/"


@pytest.fixture
def worker_like():
    """Eager tasks that keep retrying instead of raising Retry to the caller, as a worker would."""
    # The Django-namespaced name, as in conftest: Celery looks it up before `task_eager_propagates`.
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.CELERY_TASK_EAGER_PROPAGATES = False
    yield
    celery_app.conf.CELERY_TASK_EAGER_PROPAGATES = propagates


@pytest.fixture
def lookup(twilio, settings) -> RecordingTwilioHttp:
    settings.TWILIO_LOOKUP_ENABLED = True
    return twilio


@pytest.mark.parametrize("line_type", ["nonFixedVoip", "fixedVoip"])
def test_number_the_carrier_reports_as_voip_is_refused(lookup, line_type):
    lookup.line_type = line_type

    with pytest.raises(ValidationError) as refused:
        validate_factor_phone_number("+44 7400 123456")

    assert refused.value.messages == [
        "This number cannot receive security codes because the carrier reports it as an internet "
        "(VoIP) number. Use a mobile or landline number."
    ]
    (request,) = lookup.requests
    assert request["method"] == "GET"
    assert request["uri"] == "https://lookups.twilio.com/v2/PhoneNumbers/+447400123456"
    assert request["params"] == {"Fields": "line_type_intelligence"}


@pytest.mark.parametrize("line_type", ["mobile", "landline"])
def test_number_the_carrier_reports_as_mobile_or_landline_is_accepted(lookup, line_type):
    lookup.line_type = line_type

    assert validate_factor_phone_number("+44 7400 123456") == "+447400123456"
    assert len(lookup.requests) == 1


def test_carrier_is_not_asked_about_a_number_refused_by_its_type(lookup):
    with pytest.raises(ValidationError):
        validate_factor_phone_number("+44 800 123 4567")

    assert lookup.requests == []


def test_carrier_is_not_asked_when_lookup_is_off(twilio):
    twilio.line_type = "nonFixedVoip"

    assert validate_factor_phone_number("+44 7400 123456") == "+447400123456"
    assert twilio.requests == []


@pytest.fixture
def phone_step_client(client, organisation):
    """Set up but for the fallback number."""
    user = UserFactory(organisation=organisation)
    User.objects.filter(pk=user.pk).update(onboarded_at=None)
    return log_in(client, user)


def test_setup_refuses_a_number_the_carrier_reports_as_voip(
    lookup, phone_step_client, django_capture_on_commit_callbacks
):
    lookup.line_type = "nonFixedVoip"

    with django_capture_on_commit_callbacks(execute=True):
        response = phone_step_client.post("/setup/phone/", {"number": "+44 7400 123456"})

    assert response.status_code == 200
    assert "the carrier reports it as an internet (VoIP) number" in response.content.decode()
    assert not SmsDevice.objects.exists()
    assert lookup.sent == []


def test_setup_texts_a_code_to_a_number_the_carrier_reports_as_mobile(
    lookup, phone_step_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = phone_step_client.post("/setup/phone/", {"number": "+44 7400 123456"})

    assert response.url == "/setup/phone/"
    assert SmsDevice.objects.filter(number="+447400123456", confirmed=False).exists()
    (message,) = lookup.sent
    assert message["data"]["To"] == "+447400123456"


def test_carrier_lookup_outage_gets_a_message_not_an_error_page(
    lookup, phone_step_client, django_capture_on_commit_callbacks
):
    lookup.lookup_status = 503

    with django_capture_on_commit_callbacks(execute=True):
        response = phone_step_client.post("/setup/phone/", {"number": "+44 7400 123456"})

    assert response.status_code == 200
    assert "could not check this number" in response.content.decode()
    assert not SmsDevice.objects.exists()
    assert lookup.sent == []
