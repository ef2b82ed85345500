"""The key rules hold when admins act at the same moment (checked under row locks, on PostgreSQL)."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from apikeys import services
from apikeys.models import ApiKey, ApiKeySecret
from audit.models import AuditEvent
from tests.apikeys.helpers import make_key
from tests.factories import AdminFactory, OrganisationFactory
from tests.race import race

pytestmark = pytest.mark.postgres


def test_the_same_name_created_at_once_is_stored_once(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)

    made, errors = race([lambda: make_key(organisation, owner, "Web shop") for _ in range(6)])

    assert len(made) == 1
    assert [exc.error_dict["name"][0].code for exc in errors if isinstance(exc, ValidationError)] == ["duplicate"] * 5
    assert ApiKey.objects.count() == ApiKeySecret.objects.count() == 1


def test_concurrent_creations_never_pass_the_maximum(transactional_db):
    organisation = OrganisationFactory(name="Race Ltd")
    owner = AdminFactory(organisation=organisation)
    with mock.patch.object(services, "MAX_ACTIVE_KEYS", 4):
        make_key(organisation, owner, "Existing")

        made, errors = race([lambda n=n: make_key(organisation, owner, f"Racer {n}") for n in range(8)])

    assert len(made) == 3
    assert len(errors) == 5 and all(isinstance(exc, ValidationError) and exc.code == "limit" for exc in errors)
    assert ApiKey.objects.filter(organisation=organisation).count() == 4


def test_revoking_at_once_revokes_and_tells_once(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)
    key, _ = make_key(organisation, owner, "Web shop")

    revoked, errors = race([lambda: services.revoke_key(key=key, acting_user=owner) for _ in range(5)])

    assert len(revoked) == 1
    assert [exc.messages for exc in errors] == [["“Web shop” was already revoked."]] * 4
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_rolls_at_once_leave_exactly_one_secret_without_an_end(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)
    key, _ = make_key(organisation, owner, "Web shop")

    rolled, errors = race([lambda: services.roll_key(key=key, overlap="1h", acting_user=owner) for _ in range(4)])

    assert (len(rolled), errors) == (4, [])
    assert key.secrets.count() == 5
    assert key.secrets.filter(valid_until__isnull=True).count() == 1
