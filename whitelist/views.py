"""The whitelist pages: every user of the organisation reads it; admins and granted users change it."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts.permissions import MANAGE_WHITELIST, require, requires
from accounts.types import AuthenticatedRequest
from whitelist import selectors, services
from whitelist.forms import AddEntryForm


def _entries(count: int) -> str:
    return "entry" if count == 1 else f"{count} entries"


def whitelist_list(request: AuthenticatedRequest) -> HttpResponse:
    entries = list(selectors.entries_for(user=request.user))
    limit = settings.WHITELIST_MAX_ENTRIES
    context = {
        "entries": entries,
        "limit": limit,
        "at_limit": len(entries) >= limit,
        "form": AddEntryForm(),
    }
    return render(request, "whitelist/list.html", context)


@requires(MANAGE_WHITELIST)
def whitelist_add(request: AuthenticatedRequest) -> HttpResponse:
    organisation = request.user.organisation
    assert organisation is not None
    form = AddEntryForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            entry = services.add_entry(
                organisation=organisation,
                raw=form.cleaned_data["network"],
                description=form.cleaned_data["description"],
                confirm_broad=form.cleaned_data.get("confirm_broad", False),
                replace=form.replace,
                acting_user=request.user,
            )
        except ValidationError as exc:
            form.show_service_error(exc)
        else:
            typed = form.cleaned_data["network"].strip()
            note = f" (you entered {typed})" if typed != entry.network else ""
            replaced = f" in place of the {_entries(len(form.replace))} it covers" if form.replace else ""
            messages.success(
                request, f"{entry.network}{note} is on the whitelist{replaced}. Every admin gets an email about it."
            )
            return redirect("whitelist")
    return render(request, "whitelist/add.html", {"form": form}, status=400 if form.is_bound else 200)


def whitelist_remove(request: AuthenticatedRequest, entry_id: int) -> HttpResponse:
    # Scope first: another organisation's id is a 404 whatever the user's permissions.
    entry = selectors.access_entry(user=request.user, entry_id=entry_id)
    require(request.user, MANAGE_WHITELIST)
    if request.method == "POST":
        try:
            services.remove_entry(entry=entry, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{entry.network} is no longer on the whitelist.")
        return redirect("whitelist")
    return render(request, "whitelist/remove.html", {"entry": entry})
