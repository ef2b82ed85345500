"""The demo organisation's extracts are encrypted to a demo age key (seed_demo), whose secret key
seed_demo prints so the demo's downloads can be decrypted; set on the first run only."""

import gzip
import re
from io import StringIO

import pyrage
import pytest
from django.core.management import call_command
from pyrage import x25519

from accounts.models import Organisation, User
from extracts import services
from extracts.demo import demo_identity, demo_recipient
from extracts.models import ExtractKey, ExtractRequest
from tests.extracts.conftest import BOTH_DATABASES

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_encrypts_the_demo_extracts_and_prints_the_secret_key_that_decrypts_them(
    vault_table, django_capture_on_commit_callbacks
):
    output = seed()

    demo = Organisation.objects.get(name="Acme Payments Ltd")
    assert ExtractKey.objects.get(organisation=demo).recipient == demo_recipient()
    printed = re.search(r"^\s+(AGE-SECRET-KEY-1[0-9A-Z]+)$", output, re.MULTILINE)
    assert printed and printed.group(1) == str(demo_identity())
    admin = User.objects.get(email="alice@acme.example")
    with django_capture_on_commit_callbacks(execute=True):
        services.request_extract(acting_user=admin)
    stored = ExtractRequest.objects.get(organisation=demo).file
    with stored.file.open("rb") as handle:
        plain = pyrage.decrypt(handle.read(), [x25519.Identity.from_str(printed.group(1))])
    assert len(gzip.decompress(plain).decode().splitlines()) == 2_001


def test_a_rerun_keeps_the_key_the_demo_admin_chose(vault_table):
    seed()
    admin = User.objects.get(email="alice@acme.example")
    own = str(x25519.Identity.generate().to_public())
    services.set_extract_key(acting_user=admin, recipient=own)

    output = seed()

    assert ExtractKey.objects.get().recipient == own
    assert "AGE-SECRET-KEY" not in output and own in output
    services.remove_extract_key(acting_user=admin)
    assert "plain gzip CSV" in seed() and not ExtractKey.objects.exists()
