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


def test_renaming_two_keys_to_one_name_at_once_renames_one(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)
    keys = [make_key(organisation, owner, name)[0] for name in ("Web shop", "Back office", "Batch jobs")]

    def rename(key: ApiKey):
        return services.update_key(
            key=key, name="Payments", methods=key.methods, addresses=key.addresses, acting_user=owner
        )

    renamed, errors = race([lambda key=key: rename(key) for key in keys])

    assert len(renamed) == 1
    assert [exc.error_dict["name"][0].code for exc in errors if isinstance(exc, ValidationError)] == ["duplicate"] * 2
    assert ApiKey.objects.filter(name="Payments").count() == 1
    assert AuditEvent.objects.filter(action="api_key.changed").count() == 1


def test_a_change_and_a_revoke_at_once_never_change_a_revoked_key(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)
    key, _ = make_key(organisation, owner, "Web shop")
    change = lambda: services.update_key(key=key, name="Renamed", methods=["Detokenize"], acting_user=owner)  # noqa: E731

    _, errors = race([change, lambda: services.revoke_key(key=key, acting_user=owner)])

    key.refresh_from_db()
    assert key.revoked_at is not None
    if errors:  # the revoke went first: the change is refused and nothing of it stored
        assert [exc.messages for exc in errors] == [["“Web shop” was revoked: it cannot be changed."]]
        assert (key.name, key.methods) == ("Web shop", ["Tokenize"])
    else:  # the change went first, then the revoke ended the changed key
        assert (key.name, key.methods) == ("Renamed", ["Detokenize"])
