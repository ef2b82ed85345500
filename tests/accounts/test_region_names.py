"""The phone form's country names are phonenumbers' own English names, written out once so that no
process loads phonenumbers' every-language table (~100 MiB)."""

import subprocess
import sys

from accounts.phones import region_choices
from accounts.region_names import REGION_NAMES
from scripts.region_names import names


def test_the_written_names_are_phonenumbers_english_names():
    assert names() == REGION_NAMES, "phonenumbers changed: run .venv/bin/python scripts/region_names.py"


def test_every_region_has_a_name_not_its_code():
    assert all(name and name != region for region, name in REGION_NAMES.items())
    assert dict(region_choices())["GB"] == "United Kingdom (+44)"


def test_a_web_or_worker_process_loads_neither_the_every_language_table_nor_the_pdf_library():
    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'portal.settings'; django.setup();"
        "from django.urls import get_resolver; get_resolver().url_patterns; import portal.celery;"
        "import accounts.forms, accounts.phones; accounts.phones.region_choices();"
        "print('phonenumbers.geodata.locale' in sys.modules, 'fpdf' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()

    assert loaded == ["False", "False"]
