"""The platform's read of an organisation's API keys (issue 20), cheap to poll with an ETag."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.http import require_safe

from apikeys import selectors
from platform_api.auth import platform_key_required


@platform_key_required
@require_safe
def platform_keys(request: HttpRequest, public_id: str) -> HttpResponse:
    organisation = selectors.organisation_by_public_id(public_id)
    if organisation is None:
        return JsonResponse({"error": "No organisation has this id."}, status=404)
    body = selectors.platform_body(selectors.keys_for_platform(organisation, now=timezone.now()))
    etag = selectors.etag_for(body)
    # Django's own If-None-Match handling (as in @condition): 304 with an empty body on a match.
    response = get_conditional_response(request, etag=etag) or HttpResponse(body, content_type="application/json")
    response.headers["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response
