"""The platform's endpoints for usage and vault counts (SPEC §4), behind its bearer key."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from dashboard import ingest, services
from platform_api.auth import platform_key_required


def _body(request: HttpRequest) -> bytes | JsonResponse:
    if request.method != "POST":
        response = JsonResponse({"error": "Only POST is allowed here."}, status=405)
        response["Allow"] = "POST"
        return response
    try:
        return request.body
    except RequestDataTooBig:
        return JsonResponse({"errors": {"body": "is too large; send smaller batches"}}, status=413)


@platform_key_required
def usage(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    if isinstance(body, HttpResponse):
        return body
    try:
        batch = ingest.usage_batch(body)
    except ingest.PayloadError as exc:
        return JsonResponse(exc.as_json(), status=400)
    result = services.ingest_usage(batch=batch, key=request.platform_key)  # type: ignore[attr-defined]
    if result.duplicate:
        return JsonResponse({"status": "duplicate", "batch_id": result.batch_id})
    return JsonResponse(
        {"status": "stored", "batch_id": result.batch_id, "events": result.events, "errors": result.errors}
    )


@platform_key_required
def vault_stats(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    if isinstance(body, HttpResponse):
        return body
    try:
        reading = ingest.vault_reading(body)
    except ingest.PayloadError as exc:
        return JsonResponse(exc.as_json(), status=400)
    stat = services.record_vault_stat(reading=reading)
    return JsonResponse({"status": "stored", "at": stat.at.isoformat(), "token_count": stat.token_count})
