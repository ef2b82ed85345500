"""The File Manager pages: every user of the organisation lists, uploads and downloads its files."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
)
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.types import AuthenticatedRequest
from files import downloads, selectors, services
from files.forms import UploadForm
from files.models import Section
from files.upload_handlers import upload_refusal

PAGE_SIZE = 50


def _section_url(section: str) -> str:
    return f"{reverse('files')}?section={section}"


def _render_list(
    request: AuthenticatedRequest, section: str, form: UploadForm | None, status: int = 200
) -> HttpResponse:
    user = request.user
    files = selectors.files_for(user=user, section=section)
    page = Paginator(files, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    context = {
        "section": section,
        "section_label": Section(section).label,
        "tabs": [s for s in Section if services.can_see_section(user, s)],
        "page": page,
        "query": f"section={section}",
        "form": form,
        "deletable": {stored.pk for stored in page.object_list if services.can_delete(user, stored)},
    }
    return render(request, "files/list.html", context, status=status)


def file_list(request: AuthenticatedRequest) -> HttpResponse:
    section = request.GET.get("section", Section.COMPLIANCE)
    if section not in Section.values:
        section = Section.COMPLIANCE
    if not services.can_see_section(request.user, section):
        raise Http404
    form = UploadForm() if section in services.UPLOAD_SECTIONS else None
    return _render_list(request, section, form)


def file_upload(request: AuthenticatedRequest, section: str) -> HttpResponse:
    if section not in services.UPLOAD_SECTIONS:
        raise Http404
    if request.method != "POST":
        return redirect(_section_url(section))
    form = UploadForm(request.POST, request.FILES, refusal=upload_refusal(request))
    if form.is_valid():
        try:
            stored = services.upload_file(acting_user=request.user, section=section, upload=form.cleaned_data["file"])
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            note = " Support has been told and will review it." if section == Section.COMPLIANCE else ""
            messages.success(request, f"“{stored.name}” is uploaded to {stored.get_section_display()}.{note}")
            return redirect(_section_url(section))
    return _render_list(request, section, form, status=400)


def _only_get(request: AuthenticatedRequest) -> HttpResponse | None:
    return None if request.method in ("GET", "HEAD") else HttpResponseNotAllowed(["GET"])


def file_detail(request: AuthenticatedRequest, file_id: int) -> HttpResponse:
    stored = selectors.access_file(user=request.user, file_id=file_id)  # 404 before 405
    if refused := _only_get(request):
        return refused
    context = {"file": stored, "can_delete": services.can_delete(request.user, stored)}
    return render(request, "files/detail.html", context)


def file_download(request: AuthenticatedRequest, file_id: int) -> HttpResponseBase:
    stored = selectors.access_file(user=request.user, file_id=file_id)
    if refused := _only_get(request):
        return refused
    if stored.is_expired:
        context = {"file": stored, "message": downloads.expired_message(stored)}
        return render(request, "files/expired.html", context, status=410)
    return downloads.stored_file_download(stored, acting_user=request.user)


def file_delete(request: AuthenticatedRequest, file_id: int) -> HttpResponse:
    stored = selectors.access_file(user=request.user, file_id=file_id)  # scope first: 404, then 403
    if not services.can_delete(request.user, stored):
        raise PermissionDenied(services.DELETE_REFUSED)
    if request.method == "POST":
        services.delete_file(stored=stored, acting_user=request.user)
        messages.success(request, f"“{stored.name}” is deleted.")
        return redirect(_section_url(stored.section))
    return render(request, "files/delete.html", {"file": stored})
