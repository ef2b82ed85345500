"""Rotating DJANGO_SECRET_KEY with DJANGO_SECRET_KEY_FALLBACKS logs nobody out (issue 14.6).

The operator sets the new key and moves the old one into DJANGO_SECRET_KEY_FALLBACKS: sessions,
password-reset links and backup codes made with the old key keep working until it is dropped from
the list (docs/security.md). The settings are read from the environment in a fresh process, as at
a deployment, and applied here.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from tests.conftest import log_in, page_text
from tokens import services

BASE_DIR = Path(__file__).resolve().parent.parent.parent
NEW_KEY = "the-new-secret-key-after-rotation-" + "n" * 40
PRINT_KEYS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({"SECRET_KEY": settings.SECRET_KEY, "SECRET_KEY_FALLBACKS": settings.SECRET_KEY_FALLBACKS}))
"""


def keys_from_environment(env: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "-c", PRINT_KEYS],
        cwd=BASE_DIR,
        env={**base, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    keys: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return keys


def test_fallback_keys_are_read_from_the_environment_comma_separated():
    keys = keys_from_environment({"DJANGO_SECRET_KEY": NEW_KEY, "DJANGO_SECRET_KEY_FALLBACKS": " old-one , old-two,"})

    assert keys == {"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": ["old-one", "old-two"]}
    assert keys_from_environment({"DJANGO_SECRET_KEY": NEW_KEY})["SECRET_KEY_FALLBACKS"] == []


def reset_link(client: Client, email: str, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/password/reset/", {"email": email})
    match = re.search(rf"{re.escape(settings.PORTAL_BASE_URL)}(/password/reset/\S+/\S+/)", str(mail.outbox[-1].body))
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("fallback_kept", [True, False], ids=["old-key-in-fallbacks", "old-key-dropped"])
def test_rotation_keeps_sessions_reset_links_and_backup_codes_until_the_old_key_is_dropped(
    member, settings, django_capture_on_commit_callbacks, fallback_kept
):
    # Made with the key in use before the rotation.
    codes = services.generate_backup_codes(user=member, acting_user=member)
    browser = log_in(Client(), member)
    assert browser.get("/profile/").status_code == 200
    link = reset_link(Client(), member.email, django_capture_on_commit_callbacks)

    env = {"DJANGO_SECRET_KEY": NEW_KEY}
    if fallback_kept:
        env["DJANGO_SECRET_KEY_FALLBACKS"] = settings.SECRET_KEY
    keys = keys_from_environment(env)
    settings.SECRET_KEY = keys["SECRET_KEY"]
    settings.SECRET_KEY_FALLBACKS = keys["SECRET_KEY_FALLBACKS"]

    profile = browser.get("/profile/")
    reset_page = page_text(Client().get(link, follow=True))
    backup_code_works = services.verify_login_code(user=member, code=codes[0]).token is not None
    if fallback_kept:
        assert profile.status_code == 200  # still logged in
        assert "Choose a new password" in reset_page
        assert backup_code_works
    else:
        assert profile.status_code == 302 and profile.url.startswith("/login/")
        assert "This link no longer works" in reset_page
        assert not backup_code_works
