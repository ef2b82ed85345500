from django.contrib.auth import authenticate
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.forms import ReauthenticateForm
from accounts.reauth import mark_reauthenticated
from accounts.types import AuthenticatedRequest


def reauthenticate(request: AuthenticatedRequest) -> HttpResponse:
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = resolve_url("home")
    form = ReauthenticateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Through authenticate() so django-axes counts wrong passwords here too.
        user = authenticate(request, username=request.user.email, password=form.cleaned_data["password"])
        if user is not None and user.pk == request.user.pk:
            mark_reauthenticated(request)
            return HttpResponseRedirect(target)
        form.add_error("password", "That is not your password.")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/reauthenticate.html", {"form": form, "next": target}, status=status)
