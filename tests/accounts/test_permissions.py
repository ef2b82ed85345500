"""One vocabulary for "may this user do this?" (accounts/permissions.py), asked the same way by
views, services and templates."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import Client

from accounts import permissions
from accounts.permissions import PERMISSIONS, may
from tests.conftest import log_in

ROOT = Path(settings.BASE_DIR)
# Still asking in their own words; tokens/ and signin/ are being reworked separately (issue 15).
NOT_YET_SWITCHED: tuple[str, ...] = ()


def _grant(user, codename: str) -> None:
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename=codename))


def test_an_admin_holds_every_permission_in_their_own_organisation_only(owner, outsider):
    assert all(may(owner, p) for p in PERMISSIONS.values())
    assert all(may(owner, p, organisation_id=owner.organisation_id) for p in PERMISSIONS.values())
    assert not any(may(owner, p, organisation_id=outsider.organisation_id) for p in PERMISSIONS.values())


def test_a_user_holds_what_an_admin_granted_and_nothing_admins_only(member):
    _grant(member, "manage_whitelist")
    member = type(member).objects.get(pk=member.pk)

    held = {name for name, p in PERMISSIONS.items() if may(member, p)}

    assert held == {"manage_whitelist"}


def test_nobody_inactive_anonymous_or_without_an_organisation_holds_anything(owner, support, db):
    owner.is_active = False
    for who in (owner, support, AnonymousUser(), None):
        assert not any(may(who, p) for p in PERMISSIONS.values())


def test_require_refuses_with_the_permissions_own_message(member):
    with pytest.raises(permissions.PermissionDenied, match=r"Only your organisation.s admins can manage users\."):
        permissions.require(member, permissions.MANAGE_USERS)


def test_templates_ask_only_permissions_that_exist():
    asked = set()
    for template in (ROOT / "templates").rglob("*.html"):
        asked |= set(re.findall(r"\bmay\.(\w+)", template.read_text()))

    assert asked, "no template asks `may.<permission>`: the pattern above is out of date"
    assert asked <= set(PERMISSIONS), f"unknown permissions asked by templates: {asked - set(PERMISSIONS)}"


def test_the_nav_shows_what_the_user_may_open(member, owner):
    page = log_in(Client(), member).get("/").content.decode()
    assert 'href="/users/"' not in page and 'href="/audit/"' not in page

    admin_page = log_in(Client(), owner).get("/").content.decode()
    assert 'href="/users/"' in admin_page and 'href="/audit/"' in admin_page and 'href="/billing/"' in admin_page


@pytest.mark.parametrize(
    "pattern",
    [r"\.is_org_admin\b", r"\.has_portal_permission\(", r"perms\.accounts\."],
)
def test_views_services_and_templates_ask_through_the_vocabulary(pattern):
    """Not `user.is_org_admin` or `has_portal_permission` here and there: accounts/permissions.py."""
    allowed = {ROOT / "accounts" / "models.py", ROOT / "accounts" / "permissions.py"}
    offenders = []
    for path in [*ROOT.glob("*/**/*.py"), *ROOT.glob("templates/**/*.html")]:
        parts = path.relative_to(ROOT).parts
        if parts[0] in {".venv", "tests", "bench", *NOT_YET_SWITCHED} or path in allowed:
            continue
        if parts[0] == "templates" and parts[1] in NOT_YET_SWITCHED:
            continue
        if re.search(pattern, path.read_text()):
            offenders.append(str(path.relative_to(ROOT)))

    assert offenders == []


def test_a_granted_user_sees_billing_in_the_nav(member, client):
    assert 'href="/billing/"' not in log_in(Client(), member).get("/").content.decode()

    _grant(member, "view_billing")

    assert 'href="/billing/"' in log_in(client, member).get("/").content.decode()
