from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import ChangeRequestForm, ContactNumbersForm
from accounts.types import AuthenticatedRequest
from common.ratelimit import RateLimited
from files.upload_handlers import upload_refusal


def profile(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    numbers_form = ContactNumbersForm(
        request.POST if "save_numbers" in request.POST else None,
        initial={"telephone": user.telephone or "", "mobile": user.mobile or ""},
    )
    if numbers_form.is_bound and numbers_form.is_valid():
        services.update_contact_numbers(user=user, **numbers_form.cleaned_data)
        messages.success(request, "Your numbers are saved.")
        return redirect("profile")
    context = {
        "numbers_form": numbers_form,
        "change_form": ChangeRequestForm(),
        "open_change_requests": selectors.open_change_requests(user=user),
        "has_fallback_phone": services.has_fallback_phone(user),
    }
    return render(request, "accounts/profile.html", context, status=400 if numbers_form.is_bound else 200)


@require_POST
def request_company_change(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    form = ChangeRequestForm(request.POST, request.FILES, refusal=upload_refusal(request))
    limited = None
    if form.is_valid():
        data = form.cleaned_data
        message = data.pop("message")
        documents = data.pop("documents")
        try:
            services.request_company_details_change(user=user, changes=data, message=message, files=documents)
        except ValidationError as exc:
            form.add_error(None, exc)
        except RateLimited as exc:  # a request is a new ticket for support
            limited = exc
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your request was sent to support. We will email you when it is handled.")
            return redirect("profile")
    context = {
        "numbers_form": ContactNumbersForm(initial={"telephone": user.telephone or "", "mobile": user.mobile or ""}),
        "change_form": form,
        "open_change_requests": selectors.open_change_requests(user=user),
        "has_fallback_phone": services.has_fallback_phone(user),
    }
    response = render(request, "accounts/profile.html", context, status=400)
    if limited is not None:
        response.status_code = 429
        response["Retry-After"] = str(limited.retry_after)
    return response
