"""Sending text messages: the console in the embedded default, Twilio when configured.

The gateway is chosen by ``settings.SMS_BACKEND``. Twilio is reached only through its own
client, so tests swap the client's HTTP layer (``http_client``), not our code.
"""

import logging
from typing import Any, Protocol

from django.conf import settings
from twilio.http import HttpClient
from twilio.rest import Client

logger = logging.getLogger("portal.sms")


class SmsGateway(Protocol):
    def send(self, *, to: str, body: str) -> str: ...


class ConsoleSmsGateway:
    def send(self, *, to: str, body: str) -> str:
        logger.info("SMS to %s: %s", to, body)
        print(f"[SMS to {to}] {body}", flush=True)  # noqa: T201 - the console is this gateway's output
        return "console"


class TwilioSmsGateway:
    def __init__(self, http_client: HttpClient | None = None) -> None:
        self.client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)

    def send(self, *, to: str, body: str) -> str:
        message = self.client.messages.create(to=to, from_=settings.TWILIO_FROM_NUMBER, body=body)
        return str(message.sid)

    def line_type(self, number: str) -> str | None:
        result = self.client.lookups.v2.phone_numbers(number).fetch(fields="line_type_intelligence")
        info: dict[str, Any] = result.line_type_intelligence or {}
        return info.get("type")


# Tests point this at a recording HTTP client to exercise the real Twilio client end to end.
twilio_http_client: HttpClient | None = None


def get_gateway() -> SmsGateway:
    if settings.SMS_BACKEND == "twilio":
        return TwilioSmsGateway(http_client=twilio_http_client)
    return ConsoleSmsGateway()


def carrier_line_type(number: str) -> str | None:
    return TwilioSmsGateway(http_client=twilio_http_client).line_type(number)
