"""The platform's endpoints for usage and vault counts (SPEC §4), behind its bearer key."""

from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from dashboard import ingest, services
from platform_api.auth import platform_key_required

T = TypeVar("T")


def _payload(request: HttpRequest, parse: Callable[[bytes], T]) -> T | HttpResponse:
    """The POSTed body as ``parse`` reads it, or the error answer (405, 413, 400 naming each bad field)."""
    if request.method != "POST":
        response = JsonResponse({"error": "Only POST is allowed here."}, status=405)
        response["Allow"] = "POST"
        return response
    try:
        return parse(request.body)
    except RequestDataTooBig:
        return JsonResponse({"errors": {"body": "is too large; send smaller batches"}}, status=413)
    except ingest.PayloadError as exc:
        return JsonResponse(exc.as_json(), status=400)


@platform_key_required
def usage(request: HttpRequest) -> HttpResponse:
    batch = _payload(request, ingest.usage_batch)
    if isinstance(batch, HttpResponse):
        return batch
    result = services.ingest_usage(batch=batch, key=request.platform_key)  # type: ignore[attr-defined]
    if result.duplicate:
        return JsonResponse({"status": "duplicate", "batch_id": result.batch_id})
    return JsonResponse(
        {"status": "stored", "batch_id": result.batch_id, "events": result.events, "errors": result.errors}
    )


@platform_key_required
def vault_stats(request: HttpRequest) -> HttpResponse:
    reading = _payload(request, ingest.vault_reading)
    if isinstance(reading, HttpResponse):
        return reading
    stat = services.record_vault_stat(reading=reading)
    return JsonResponse({"status": "stored", "at": stat.at.isoformat(), "token_count": stat.token_count})
