"""Extract key changes at the same moment, on PostgreSQL: the organisation's row lock makes them
one after the other, so the audit trail tells the story the database ends in."""

import pytest
from django.core.exceptions import ValidationError
from pyrage import x25519

from audit.models import AuditEvent
from extracts import services
from extracts.models import ExtractKey
from tests.factories import AdminFactory, OrganisationFactory
from tests.race import race

pytestmark = pytest.mark.postgres


def test_keys_set_at_once_leave_one_key_and_an_audit_trail_that_ends_in_it(transactional_db):
    organisation = OrganisationFactory()
    admins = [AdminFactory(organisation=organisation) for _ in range(4)]
    keys = [str(x25519.Identity.generate().to_public()) for _ in admins]

    done, errors = race(
        [
            lambda a=a, k=k: services.set_extract_key(acting_user=a, recipient=k)
            for a, k in zip(admins, keys, strict=True)
        ]
    )

    assert (len(done), errors) == (4, [])
    events = list(AuditEvent.objects.filter(action__startswith="extract.key").order_by("pk"))
    assert [e.action for e in events] == ["extract.key_set"] + ["extract.key_replaced"] * 3
    assert [e.details["previous"] for e in events[1:]] == [e.details["recipient"] for e in events[:-1]]
    assert ExtractKey.objects.get().recipient == events[-1].details["recipient"]


def test_removals_at_once_remove_and_tell_once(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)
    services.set_extract_key(acting_user=owner, recipient=str(x25519.Identity.generate().to_public()))

    removed, errors = race([lambda: services.remove_extract_key(acting_user=owner) for _ in range(4)])

    assert len(removed) == 1
    assert [exc.messages for exc in errors if isinstance(exc, ValidationError)] == [
        ["Extracts are not encrypted: there is no key to remove."]
    ] * 3
    assert AuditEvent.objects.filter(action="extract.key_removed").count() == 1
    assert not ExtractKey.objects.exists()
