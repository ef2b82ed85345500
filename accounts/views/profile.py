from django import forms
from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render

from accounts import selectors, services
from accounts.forms import ContactNumbersForm
from accounts.models import User
from accounts.profile_page import company_change_form
from accounts.types import AuthenticatedRequest


def _numbers_form(user: User, data: QueryDict | None = None) -> ContactNumbersForm:
    return ContactNumbersForm(data, initial={"telephone": user.telephone or "", "mobile": user.mobile or ""})


def profile_context(
    user: User, *, numbers_form: ContactNumbersForm | None = None, change_form: forms.BaseForm | None = None
) -> dict[str, object]:
    """What accounts/profile.html shows. The company-details request form belongs to support
    (accounts/profile_page.py); support's view passes its bound form to show the errors."""
    return {
        "numbers_form": _numbers_form(user) if numbers_form is None else numbers_form,
        "change_form": company_change_form() if change_form is None else change_form,
        "open_change_requests": selectors.open_change_requests(user=user),
        "has_fallback_phone": services.has_fallback_phone(user),
    }


def profile(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    numbers_form = _numbers_form(user, request.POST if "save_numbers" in request.POST else None)
    if numbers_form.is_bound and numbers_form.is_valid():
        services.update_contact_numbers(user=user, **numbers_form.cleaned_data)
        messages.success(request, "Your numbers are saved.")
        return redirect("profile")
    context = profile_context(user, numbers_form=numbers_form)
    return render(request, "accounts/profile.html", context, status=400 if numbers_form.is_bound else 200)
