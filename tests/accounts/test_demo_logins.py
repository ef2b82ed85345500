"""The logins `make run` prints work as printed (SPEC §1)."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_static.models import StaticToken

from demo.management.commands.seed_demo import DEMO_PASSWORD


@pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault
def test_a_printed_backup_code_logs_in_once_and_a_second_run_does_not_bring_it_back(client):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    printed = out.getvalue()
    alice = printed[printed.index("alice@acme.example") :]
    codes = re.search(r"backup codes: ((?:[0-9a-f]{8} ?){5})", alice)
    assert codes is not None, printed
    code = codes.group(1).split()[2]

    assert client.post("/login/", {"username": "alice@acme.example", "password": DEMO_PASSWORD}).url == "/login/code/"
    assert client.post("/login/code/", {"code": code}).url == "/"
    assert not StaticToken.objects.filter(token=code).exists()  # kept as digests only

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert StaticToken.objects.filter(device__user__email="alice@acme.example").count() == 4
    reprinted = again.getvalue()
    assert code not in reprinted  # the printout lists the codes still unused
    assert all(other in reprinted for other in codes.group(1).split() if other != code)
