"""The whitelist pages: every user of the organisation reads it; admins and granted users change it."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts.permissions import MANAGE_WHITELIST, require, requires
from accounts.types import AuthenticatedRequest
from whitelist import selectors, services
from whitelist.forms import AddEntryForm, EditEntryForm
from whitelist.models import DESCRIPTION_MAX_LENGTH
from whitelist.services import RAW_MAX_LENGTH


def _entries(count: int) -> str:
    return "entry" if count == 1 else f"{count} entries"


def whitelist_list(request: AuthenticatedRequest) -> HttpResponse:
    entries = list(selectors.entries_for(user=request.user))
    limit = settings.WHITELIST_MAX_ENTRIES
    context = {
        "entries": entries,
        "limit": limit,
        "at_limit": len(entries) >= limit,
        "refused": selectors.refused_sources(user=request.user, entries=entries),
        "refused_days": selectors.REFUSED_DAYS,
        "form": AddEntryForm(owners=selectors.owner_choices(user=request.user), initial={"owner": request.user}),
    }
    return render(request, "whitelist/list.html", context)


def _prefill(request: AuthenticatedRequest) -> dict[str, object]:
    """What "Allow" on a refused address puts in the form (?network=…&description=…); only shown,
    never trusted: adding checks it like anything typed."""
    initial: dict[str, object] = {"owner": request.user}
    network = request.GET.get("network", "")
    description = request.GET.get("description", "")
    if network and len(network) <= RAW_MAX_LENGTH:
        initial["network"] = network
    if description:
        initial["description"] = description[:DESCRIPTION_MAX_LENGTH]
    return initial


@requires(MANAGE_WHITELIST)
def whitelist_add(request: AuthenticatedRequest) -> HttpResponse:
    organisation = request.user.organisation
    assert organisation is not None
    owners = selectors.owner_choices(user=request.user)
    if request.method == "POST":
        form = AddEntryForm(request.POST, owners=owners)
    else:
        form = AddEntryForm(owners=owners, initial=_prefill(request))
    if form.is_bound and form.is_valid():
        try:
            entry = services.add_entry(
                organisation=organisation,
                raw=form.cleaned_data["network"],
                description=form.cleaned_data["description"],
                confirm_broad=form.cleaned_data.get("confirm_broad", False),
                replace=form.replace,
                owner=form.cleaned_data.get("owner"),
                expires_on=form.cleaned_data.get("expires_on"),
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


def whitelist_edit(request: AuthenticatedRequest, entry_id: int) -> HttpResponse:
    # Scope first: another organisation's id is a 404 whatever the user's permissions.
    entry = selectors.access_entry(user=request.user, entry_id=entry_id)
    require(request.user, MANAGE_WHITELIST)
    owners = selectors.owner_choices(user=request.user)
    if request.method == "POST":
        form = EditEntryForm(request.POST, owners=owners, current_owner=entry.owner)
        if form.is_valid():
            try:
                services.change_entry(
                    entry=entry,
                    description=form.cleaned_data["description"],
                    owner=form.cleaned_data.get("owner") or entry.owner,
                    expires_on=form.cleaned_data.get("expires_on"),
                    acting_user=request.user,
                )
            except ValidationError as exc:
                if not hasattr(exc, "error_dict"):  # removed by someone else a moment ago
                    messages.error(request, " ".join(exc.messages))
                    return redirect("whitelist")
                form.add_error(None, exc)
            else:
                messages.success(request, f"{entry.network} is saved. Every admin gets an email about the change.")
                return redirect("whitelist")
    else:
        form = EditEntryForm(
            owners=owners,
            current_owner=entry.owner,
            initial={"description": entry.description, "owner": entry.owner, "expires_on": entry.expires_on},
        )
    return render(request, "whitelist/edit.html", {"entry": entry, "form": form}, status=400 if form.is_bound else 200)


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
    context = {"entry": entry, "calls": selectors.calls_from(entry=entry), "usage_days": selectors.USAGE_DAYS}
    return render(request, "whitelist/remove.html", context)
