"""A customer's webhook receiver, checking each request with the README's recipe (run as written).

The recipe is read from README.md between its markers and executed, so the code customers copy
is the code these tests verify with: a wrong recipe fails them.
"""

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import responses

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE = re.compile(r"<!-- webhook-recipe -->\s*```python\n(?P<code>.*?)```\s*<!-- /webhook-recipe -->", re.DOTALL)


def recipe() -> dict[str, Any]:
    match = RECIPE.search(README.read_text())
    assert match, "README.md has no webhook recipe between its markers"
    namespace: dict[str, Any] = {}
    exec(compile(match["code"], "README.md (webhook recipe)", "exec"), namespace)
    return namespace


verify_portal_signature: Callable[..., bool] = recipe()["verify_portal_signature"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    mock: responses.RequestsMock
    url: str
    secret: str = "whsec_test-secret"
    # What to answer, in turn: a status code, or an exception to raise (a timeout); the last repeats.
    answers: list[int | Exception] = field(default_factory=lambda: [200])
    clock: Callable[[], float] = time.time
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mock.add_callback(responses.POST, self.url, callback=self._answer)

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        header = request.headers.get("Portal-Signature", "")
        verified = verify_portal_signature(self.secret, header, body, now=self.clock())
        headers = {name: str(value) for name, value in request.headers.items()}
        self.received.append(Received(headers=headers, body=body, verified=verified))
        answer = self.answers[min(len(self.received), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer, {}, ""
