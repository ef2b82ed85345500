import json
from functools import cache
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse

OPENAPI_FILE = Path(__file__).with_name("openapi.json")


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_FILE.read_text())
    return document


@login_not_required
def openapi_document(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_document())
