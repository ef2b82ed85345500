"""Twilio, the one outside service, seen through its client's own HTTP seam.

The real ``twilio.rest.Client`` builds and sends each request; only its ``http_client``
(``common.sms.twilio_http_client``) is this recording stand-in. The ``twilio`` fixture
(tests/conftest.py) puts it in place with test credentials.
"""

import json
import logging
from urllib.parse import unquote

from twilio.http import HttpClient
from twilio.http.response import Response

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
FROM_NUMBER = "+441618500000"
TO_NUMBER = "+447400123456"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


class RecordingTwilioHttp(HttpClient):
    """Answers Twilio API calls from a script and remembers every request it was given."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("tests.twilio"), is_async=False)
        self.requests: list[dict[str, object]] = []
        self.message_answers: list[tuple[int, dict[str, object]] | Exception] = []
        self.line_type: str | None = "mobile"
        self.lookup_status = 200

    def request(
        self,
        method,
        uri,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        self.requests.append({"method": method, "uri": uri, "params": params, "data": data, "auth": auth})
        if uri.startswith("https://lookups.twilio.com/v2/PhoneNumbers/"):
            number = unquote(uri.rsplit("/", 1)[1])
            body = {
                "phone_number": number,
                "valid": True,
                "line_type_intelligence": {"type": self.line_type, "carrier_name": "Test Carrier"},
            }
            if self.lookup_status != 200:
                body = {"code": 20500, "message": "Internal Server Error", "status": self.lookup_status}
            return Response(self.lookup_status, json.dumps(body))
        answer = self.message_answers.pop(0) if self.message_answers else (201, self.message(data))
        if isinstance(answer, Exception):
            raise answer
        status, answer_body = answer
        return Response(status, json.dumps(answer_body))

    @staticmethod
    def message(data) -> dict[str, object]:
        return {
            "sid": "SM" + "f" * 32,
            "account_sid": ACCOUNT_SID,
            "to": data["To"],
            "from": data["From"],
            "body": data["Body"],
            "status": "queued",
        }

    def fail_next(self, *answers: int | Exception) -> None:
        for answer in answers:
            if isinstance(answer, Exception):
                self.message_answers.append(answer)
            else:
                self.message_answers.append(
                    (answer, {"code": 20000 + answer, "message": f"HTTP {answer}", "status": answer})
                )

    @property
    def sent(self) -> list[dict[str, object]]:
        return [r for r in self.requests if r["uri"] == MESSAGES_URL]
