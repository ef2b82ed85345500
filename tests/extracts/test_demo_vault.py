"""The demo vault (seed_demo): a table and 2,000 fake tokens for the demo organisation, added once."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organisation
from extracts.vault import DEMO_TOKENS, count_tokens, ensure_demo_vault
from tests.extracts.conftest import BOTH_DATABASES

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


def test_demo_vault_is_filled_once(organisation, outsider):
    assert ensure_demo_vault(organisation=organisation) == DEMO_TOKENS
    assert ensure_demo_vault(organisation=organisation) == 0

    assert count_tokens(organisation.public_id) == DEMO_TOKENS == 2_000
    assert count_tokens(outsider.organisation.public_id) == 0


def test_seed_demo_gives_the_demo_organisation_its_vault(vault_table):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    demo = Organisation.objects.get(name="Acme Payments Ltd")
    assert count_tokens(demo.public_id) == 2_000
