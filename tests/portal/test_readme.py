"""The README stands alone in a clone (issue 19, newcomer set-up): what it points to is in the
repository, and its login help says what the login page does."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.factories import PASSWORD

BASE = Path(settings.BASE_DIR)
README = (BASE / "README.md").read_text()
TOP_LEVEL = {path.name for path in BASE.iterdir() if not path.name.startswith(".")}


def mentioned_paths() -> set[str]:
    """Markdown links, and `backticked` names that start at a top-level entry or end in .md."""
    links = set(re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README))
    ticked = set(re.findall(r"`([^`\s]+)`", README))
    named = {name for name in ticked if name.split("/")[0] in TOP_LEVEL or name.endswith(".md")}
    return links | named


def test_the_readme_points_only_inside_the_repository():
    assert "../" not in README
    paths = mentioned_paths()
    assert {"docs/SPEC.md", "docs/security.md", "tests/portal/test_isolation_matrix.py"} <= paths
    missing = sorted(path for path in paths if not (BASE / path.split("::")[0]).exists())
    assert not missing, f"the README names files that are not in the repository: {missing}"


def test_the_product_description_is_in_docs():
    assert "docs/SPEC.md" in README
    assert (BASE / "docs" / "SPEC.md").read_text().startswith("# Customer Portal — product specification")


@pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault
def test_the_login_help_of_the_readme_and_of_make_run_is_what_the_login_page_does(client, member):
    """One code field takes app codes and backup codes alike; nobody mentions a link the page lacks."""
    out = StringIO()
    call_command("seed_demo", stdout=out)
    client.post("/login/", {"username": member.email, "password": PASSWORD})
    page = client.get("/login/code/").content.decode()

    assert page.count('name="code"') == 1
    assert "A backup code works too" in page
    help_text = " ".join(README.split())
    assert "the one code field takes either the code of the authenticator app or one of the backup codes" in help_text
    assert "backup codes into the same code field at login" in " ".join(out.getvalue().split())
    links = re.findall(r"<a [^>]*>([^<]*)</a>", page)
    for text in (README, out.getvalue()):
        for quoted in re.findall(r"[\"“']([A-Z][^\"”']{3,40})[\"”'] (?:at login|on the login page|link)", text):
            assert quoted in links, f"{quoted!r} is mentioned but the login page has no such link"
