"""seed_demo gives the demo organisation two keys, once: a rerun keeps them and their secrets."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organisation
from apikeys import services
from apikeys.models import ApiKey, ApiKeySecret


def keys() -> list[tuple[str, list[str], list[str]]]:
    return list(ApiKey.objects.order_by("name").values_list("name", "methods", "addresses"))


@pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault
def test_the_demo_organisation_has_a_tokenize_and_a_narrow_detokenize_key_made_once():
    call_command("seed_demo", stdout=StringIO())
    first = list(ApiKeySecret.objects.order_by("pk").values_list("pk", "prefix", "secret_hash"))
    call_command("seed_demo", stdout=StringIO())

    organisation = Organisation.objects.get(name="Acme Payments Ltd")
    assert keys() == [
        ("Back office (detokenize only)", ["Detokenize"], ["203.0.113.10/32", "203.0.113.24/32"]),
        ("Web shop (tokenize only)", ["Tokenize"], []),
    ]
    assert set(ApiKey.objects.values_list("organisation", "environment")) == {(organisation.pk, "test")}
    assert list(ApiKeySecret.objects.order_by("pk").values_list("pk", "prefix", "secret_hash")) == first
    assert len(first) == 2
    # The demo keys obey the rules a customer's keys do: the narrow list lies inside the whitelist.
    for _, methods, addresses in keys():
        assert services.clean_methods(methods) == methods
        assert services.clean_addresses(addresses, organisation=organisation) == addresses
    assert {key.created_by.email for key in ApiKey.objects.select_related("created_by")} == {"alice@acme.example"}
