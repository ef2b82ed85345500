"""Is the schema ready to be split by organisation? (docs/scaling.md, "Sharding by organisation")

Every table holding a customer's data must lead to exactly one organisation: directly through a
non-null ``organisation`` column, or through a short chain of non-null foreign keys to a table that
has one. Tables that belong to no organisation are listed with the reason. A model added later that
is in neither list fails here, so the capacity model's claim stays true.
"""

import pytest
from django.apps import apps
from django.db import models

from accounts.models import Organisation

# Tables with their own non-null organisation column (a shard key as it stands).
KEYED_BY_ORGANISATION = {
    "accounts.CompanyDetailsChangeRequest",
    "dashboard.DailyMethodCount",
    "dashboard.ErrorLog",
    "dashboard.VaultStat",
    "whitelist.WhitelistEntry",
    "whitelist.DailySourceCount",
    "files.StoredFile",
    "support.Ticket",
    "billing.Invoice",
    "extracts.ExtractRequest",
    "extracts.ExtractSchedule",
    "extracts.ExtractKey",
    "apikeys.ApiKey",
    "dashboard.FiveMinuteMethodCount",
    "alarms.Alarm",
    "alarms.AlarmEvent",
    "alarms.WebhookEndpoint",
    "alarms.WebhookDelivery",
}

# An organisation column that is empty only for rows of the support side, and why.
KEYED_OR_SUPPORT_SIDE = {
    "accounts.User": "support staff belong to no organisation; every customer user has one",
    "audit.AuditEvent": "support-side events, and sign-in events for an address that is no customer's",
}

# Customer data reached through a parent: the path to the organisation, every step non-null.
# Under a distributed PostgreSQL these tables need the organisation column copied in to be
# co-located with their parent (docs/scaling.md lists them as the schema's exceptions).
THROUGH_A_PARENT = {
    "support.Comment": "ticket__organisation",
    "support.Attachment": "ticket__organisation",
    "billing.InvoiceLine": "invoice__organisation",
    "files.ExpiryNotice": "stored_file__organisation",
    "whitelist.ExpiryNotice": "entry__organisation",
    "apikeys.ApiKeySecret": "key__organisation",
    "apikeys.ApiKeyDailyUse": "key__organisation",
    "tokens.Token": "user__organisation",
    "tokens.SmsDevice": "user__organisation",
    "tokens.PasskeyDevice": "user__organisation",
    "otp_totp.TOTPDevice": "user__organisation",
    "otp_hotp.HOTPDevice": "user__organisation",
    "otp_static.StaticDevice": "user__organisation",
    "otp_email.EmailDevice": "user__organisation",
    "otp_static.StaticToken": "device__user__organisation",
}

# Tables that are not one organisation's data, and why.
NOT_A_TENANT_TABLE = {
    "accounts.Organisation": "the tenant itself: the shard key's own table",
    "tokens.TokenType": "reference data: the kinds of second factor, the same for everyone",
    "support.ResourceLink": "reference data: links on the Resources page, the same for everyone",
    "platform_api.PlatformKey": "the platform's own machine credentials, not a customer's",
    "dashboard.IngestedBatch": "the platform's batch ids (one batch holds events of many organisations)",
    "admin.LogEntry": "support staff's admin history",
    "auth.Permission": "framework reference data",
    "auth.Group": "support staff's groups",
    "contenttypes.ContentType": "framework reference data",
    "sessions.Session": "keyed by session id; a user's session is found by its cookie, not by organisation",
    "axes.AccessAttempt": "login attempts are counted per address and account name before anyone is known",
    "axes.AccessFailureLog": "as above",
    "axes.AccessLog": "as above",
    "axes.AccessAttemptExpiration": "as above",
}


def _label(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _concrete_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if not m._meta.proxy and not m._meta.abstract]


def test_every_table_is_classified():
    known = KEYED_BY_ORGANISATION | set(KEYED_OR_SUPPORT_SIDE) | set(THROUGH_A_PARENT) | set(NOT_A_TENANT_TABLE)
    unclassified = sorted(_label(m) for m in _concrete_models() if _label(m) not in known)
    assert not unclassified, (
        "new tables must say how they lead to an organisation (tests/portal/test_tenant_keys.py, "
        f"docs/scaling.md): {unclassified}"
    )
    gone = sorted(known - {_label(m) for m in _concrete_models()})
    assert not gone, f"listed but no longer a model: {gone}"


@pytest.mark.parametrize("label", sorted(KEYED_BY_ORGANISATION))
def test_keyed_tables_have_a_non_null_organisation(label):
    field = apps.get_model(label)._meta.get_field("organisation")
    assert isinstance(field, models.ForeignKey)
    assert field.related_model is Organisation
    assert not field.null, f"{label}.organisation may be null: a row could belong to no shard"


@pytest.mark.parametrize(("label", "path"), sorted(THROUGH_A_PARENT.items()))
def test_parent_chains_lead_to_one_organisation(label, path):
    model: type[models.Model] = apps.get_model(label)
    *steps, last = path.split("__")
    assert last == "organisation"
    for step in steps:
        field = model._meta.get_field(step)
        assert isinstance(field, models.ForeignKey), f"{label}: {step} is not a foreign key"
        assert not field.null, f"{label}: {step} may be null, so a row may belong to no organisation"
        model = field.related_model
    assert _label(model) in KEYED_BY_ORGANISATION | set(KEYED_OR_SUPPORT_SIDE)


@pytest.mark.parametrize("label", sorted(KEYED_OR_SUPPORT_SIDE))
def test_support_side_tables_have_an_organisation_column(label):
    field = apps.get_model(label)._meta.get_field("organisation")
    assert isinstance(field, models.ForeignKey)
    assert field.related_model is Organisation
