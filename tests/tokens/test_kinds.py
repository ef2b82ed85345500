"""The kinds of token are declared once (tokens/kinds.py): the list must be whole and each entry usable."""

import pytest
from django.utils.module_loading import import_string

from tokens import kinds
from tokens.models import TokenKind


def test_every_kind_of_token_is_declared_exactly_once():
    assert sorted(spec.kind for spec in kinds.KINDS) == sorted(TokenKind)


def test_each_kind_has_its_own_device_model():
    models = [spec.device_model._meta.concrete_model for spec in kinds.KINDS]

    assert len(set(models)) == len(models)


@pytest.mark.parametrize("spec", kinds.KINDS, ids=lambda spec: spec.kind)
def test_each_kind_names_an_enrolment_view_that_exists(spec):
    assert callable(import_string(spec.enrol_view))


@pytest.mark.parametrize("spec", [s for s in kinds.KINDS if s.sends_codes], ids=lambda spec: spec.kind)
def test_a_kind_that_receives_codes_asks_for_its_destination_when_enrolled(spec):
    assert spec.destination is not None and spec.enrol_form is not None
    assert spec.destination.field in spec.enrol_form.base_fields
