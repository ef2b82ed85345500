"""apikeys.services: creating, rolling and revoking keys; what is stored, refused, audited and emailed."""

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from apikeys import selectors, services
from apikeys.models import ApiKey, ApiKeySecret
from audit.models import AuditEvent
from tests.apikeys.helpers import grant_api_keys, make_key, whitelist
from tests.factories import AdminFactory

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def stored() -> dict[str, int]:
    return {
        "keys": ApiKey.objects.count(),
        "secrets": ApiKeySecret.objects.count(),
        "audit": AuditEvent.objects.filter(action__startswith="api_key.").count(),
    }


def platform_document(organisation, now=NOW):
    return selectors.keys_for_platform(organisation, now=now)


# --- Creating ---------------------------------------------------------------------------------------


def test_a_new_key_keeps_only_the_hash_of_its_secret(organisation, owner):
    key, plain = make_key(organisation, owner, "Web shop", now=NOW)

    secret = ApiKeySecret.objects.get(key=key)
    assert plain.startswith(secret.prefix + "_")
    assert secret.prefix.startswith("ak_test_") and len(secret.prefix) == len("ak_test_") + 12
    assert secret.secret_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert len(plain) > 50  # 256 random bits after the prefix
    row = ApiKeySecret.objects.filter(pk=secret.pk).values().get()
    assert plain not in repr(row) and plain not in repr(ApiKey.objects.filter(pk=key.pk).values().get())
    assert (key.name, key.environment, key.methods, key.addresses, key.expires_at) == (
        "Web shop",
        "test",
        ["Tokenize"],
        [],
        None,
    )


def test_two_keys_never_share_a_secret_or_a_prefix(organisation, owner):
    _, first = make_key(organisation, owner, "One")
    _, second = make_key(organisation, owner, "Two")

    assert first != second
    assert len(set(ApiKeySecret.objects.values_list("prefix", flat=True))) == 2


def test_a_production_portal_makes_live_keys(settings, organisation, owner):
    settings.PORTAL_ENVIRONMENT = "production"

    key, plain = make_key(organisation, owner)

    assert key.environment == "production"
    assert plain.startswith("ak_live_")


def test_functions_are_kept_in_the_platforms_order(organisation, owner):
    key, _ = make_key(organisation, owner, methods=["Search", "Tokenize", "Detokenize"])

    assert key.methods == ["Tokenize", "Detokenize", "Search"]


def test_all_functions_is_a_choice_of_its_own(organisation, owner):
    key, _ = make_key(organisation, owner, methods=["*"])
    assert key.methods == ["*"]

    with pytest.raises(ValidationError) as both:
        make_key(organisation, owner, "Other", methods=["*", "Tokenize"])
    assert errors(both) == {"methods": [services.ALL_AND_SOME]}


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ([], services.METHODS_REQUIRED),
        (["Tokenise"], "Tokenise is not a function of the platform."),
    ],
)
def test_functions_must_be_the_platforms(organisation, owner, methods, message):
    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, methods=methods)

    assert errors(refused) == {"methods": [message]}
    assert stored() == {"keys": 0, "secrets": 0, "audit": 0}


def test_source_addresses_are_normalised_and_ordered(organisation, owner):
    whitelist(organisation, owner, "203.0.113.0/24", "2001:db8:4000::/48")

    key, _ = make_key(organisation, owner, addresses=["2001:db8:4000::25", " 203.0.113.24 ", "203.0.113.10/32"])

    assert key.addresses == ["203.0.113.10/32", "203.0.113.24/32", "2001:db8:4000::25/128"]


def test_source_addresses_must_lie_inside_the_whitelist(organisation, owner):
    whitelist(organisation, owner, "203.0.113.0/24")

    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, addresses=["203.0.113.7", "198.51.100.7", "203.0.114.0/23"])

    assert errors(refused) == {
        "addresses": [
            "198.51.100.7/32 is not inside the organisation's whitelist, so the platform would refuse its calls "
            "whatever the key allows. Add it to the whitelist first, or enter an address inside it.",
            "203.0.114.0/23 is not inside the organisation's whitelist, so the platform would refuse its calls "
            "whatever the key allows. Add it to the whitelist first, or enter an address inside it.",
        ]
    }
    assert stored()["keys"] == 0


def test_source_addresses_need_a_whitelist_first(organisation, owner):
    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, addresses=["203.0.113.7"])

    assert "The whitelist of Acme Payments Ltd is empty" in errors(refused)["addresses"][0]


def test_source_addresses_are_read_by_the_whitelists_rules(organisation, owner):
    whitelist(organisation, owner, "203.0.113.0/24")

    with pytest.raises(ValidationError) as refused:
        make_key(
            organisation, owner, addresses=["203.0.113.7/24", "nonsense", "127.0.0.1", "203.0.113.9", "203.0.113.9/32"]
        )

    assert errors(refused) == {
        "addresses": [
            "203.0.113.7/24 has host bits set; did you mean 203.0.113.0/24?",
            "“nonsense” is not an IPv4 or IPv6 address or range. "
            "Enter an address such as 203.0.113.7 or a range such as 203.0.113.0/24.",
            "127.0.0.1/32 is a loopback address: it only ever reaches the same machine. "
            "Enter the public address your servers call the platform from.",
            "203.0.113.9/32 is already in the list (as 203.0.113.9/32): list each address once.",
        ]
    }


def test_a_range_holding_another_listed_address_is_refused(organisation, owner):
    whitelist(organisation, owner, "203.0.113.0/24")

    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, addresses=["203.0.113.9", "203.0.113.0/28"])

    assert errors(refused) == {
        "addresses": ["203.0.113.0/28 holds 203.0.113.9/32, also listed: keep only one of them."]
    }


def test_at_most_as_many_addresses_as_the_whitelist_may_hold(settings, organisation, owner):
    settings.WHITELIST_MAX_ENTRIES = 3
    whitelist(organisation, owner, "203.0.113.0/24")

    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, addresses=[f"203.0.113.{n}" for n in range(1, 5)])

    assert errors(refused) == {"addresses": ["A key can name at most 3 addresses or ranges (this list has 4)."]}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", services.NAME_REQUIRED),
        ("Web\nshop", "Keep the name to one line of plain text."),
        ("x" * 101, "Keep the name to 100 characters (it has 101)."),
    ],
)
def test_a_key_needs_a_one_line_name(organisation, owner, name, message):
    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, name)

    assert errors(refused) == {"name": [message]}


def test_names_are_unique_among_keys_in_use(organisation, owner, outsider):
    key, _ = make_key(organisation, owner, "Web shop")
    make_key(outsider.organisation, outsider, "Web shop")  # another organisation's name is theirs

    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, " Web shop ")
    assert errors(refused) == {"name": ["Another key is already called “Web shop”: choose another name."]}

    services.revoke_key(key=key, acting_user=owner)
    again, _ = make_key(organisation, owner, "Web shop")
    assert again.pk != key.pk


def test_every_problem_is_named_at_once(organisation, owner):
    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, "", methods=[], addresses=["nonsense"], expires_on=date(2020, 1, 1), now=NOW)

    assert set(errors(refused)) == {"name", "methods", "addresses", "expires_on"}


def test_an_expiry_is_00_00_utc_of_a_day_after_today(organisation, owner):
    key, _ = make_key(organisation, owner, expires_on=date(2026, 11, 27), now=NOW)
    assert key.expires_at == datetime(2026, 11, 27, tzinfo=UTC)

    with pytest.raises(ValidationError) as today:
        make_key(organisation, owner, "Other", expires_on=date(2026, 11, 26), now=NOW)
    assert errors(today) == {
        "expires_on": ["Choose a day after today (UTC): the key stops working at 00:00 UTC on that day."]
    }


def test_at_most_25_keys_in_use(organisation, owner):
    for n in range(services.MAX_ACTIVE_KEYS):
        make_key(organisation, owner, f"Key {n}")

    with pytest.raises(ValidationError) as refused:
        make_key(organisation, owner, "One too many")
    assert refused.value.messages == [
        "Acme Payments Ltd already has 25 API keys in use, the most allowed. "
        "Revoke a key that is no longer needed first."
    ]

    services.revoke_key(key=ApiKey.objects.filter(organisation=organisation).first(), acting_user=owner)
    make_key(organisation, owner, "One too many")  # a revoked key frees its place


def test_creating_is_audited_and_emailed_to_every_admin(
    organisation, owner, member, django_capture_on_commit_callbacks
):
    AdminFactory.create(organisation=organisation, email="second@acme.example", full_name="Second Admin")
    AdminFactory.create(organisation=organisation, email="gone@acme.example", is_active=False)
    whitelist(organisation, owner, "203.0.113.0/24")

    with django_capture_on_commit_callbacks(execute=True):
        key, plain = make_key(organisation, owner, "Web shop", methods=["Tokenize"], addresses=["203.0.113.7"])

    prefix = key.secrets.get().prefix
    event = AuditEvent.objects.get(action="api_key.created")
    assert (event.actor, event.organisation, event.target_label) == (owner, organisation, f"Web shop ({prefix}…)")
    assert event.details["methods"] == ["Tokenize"] and event.details["addresses"] == ["203.0.113.7/32"]
    assert sorted(m.to[0] for m in mail.outbox) == ["owner@acme.example", "second@acme.example"]
    message = mail.outbox[0]
    assert message.subject == "API key “Web shop” of Acme Payments Ltd created"
    assert "Olivia Owner (owner@acme.example) created the API key" in message.body
    assert f"{prefix}…" in message.body and "It may call Tokenize from 203.0.113.7/32." in message.body
    assert all(plain not in m.body and plain not in str(m.alternatives) for m in mail.outbox)


def test_a_refused_key_stores_sends_and_records_nothing(organisation, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        make_key(organisation, owner, "Web shop", methods=["Nope"])

    assert stored() == {"keys": 0, "secrets": 0, "audit": 0}
    assert mail.outbox == []


def test_only_admins_and_granted_users_of_the_organisation_change_keys(organisation, owner, member, outsider):
    with pytest.raises(PermissionDenied):
        make_key(organisation, member)
    with pytest.raises(PermissionDenied):
        make_key(organisation, outsider)
    key, _ = make_key(organisation, owner)
    with pytest.raises(PermissionDenied):
        services.roll_key(key=key, overlap="1h", acting_user=outsider)
    with pytest.raises(PermissionDenied):
        services.revoke_key(key=key, acting_user=member)

    granted = grant_api_keys(member)
    made, _ = make_key(organisation, granted, "By the member")
    assert made.created_by == member
    services.revoke_key(key=key, acting_user=granted)


# --- Rolling ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overlap", "length"),
    [("none", timedelta(0)), ("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7))],
)
def test_rolling_keeps_the_old_secret_for_the_overlap_chosen(organisation, owner, overlap, length):
    key, old = make_key(organisation, owner, now=NOW - timedelta(days=3))
    old_prefix = key.secrets.get().prefix

    _, new = services.roll_key(key=key, overlap=overlap, acting_user=owner, now=NOW)

    assert new != old
    secrets = {s.prefix: s for s in key.secrets.all()}
    assert secrets[old_prefix].valid_until == NOW + length
    new_prefix = next(p for p in secrets if p != old_prefix)
    assert new.startswith(new_prefix + "_") and secrets[new_prefix].valid_until is None
    during = [k["prefix"] for k in platform_document(organisation, now=NOW + length - timedelta(seconds=1))["keys"]]
    after = [k["prefix"] for k in platform_document(organisation, now=NOW + length)["keys"]]
    assert sorted(during) == sorted([old_prefix, new_prefix])  # with no overlap: the second before
    assert after == [new_prefix]


def test_rolling_again_during_an_overlap_never_lengthens_it(organisation, owner):
    key, _ = make_key(organisation, owner, now=NOW - timedelta(days=1))
    first = key.secrets.get().prefix
    services.roll_key(key=key, overlap="1h", acting_user=owner, now=NOW)
    second = key.secrets.exclude(prefix=first).get().prefix

    services.roll_key(key=key, overlap="7d", acting_user=owner, now=NOW + timedelta(minutes=10))

    ends = dict(key.secrets.values_list("prefix", "valid_until"))
    assert ends[first] == NOW + timedelta(hours=1)
    assert ends[second] == NOW + timedelta(minutes=10, days=7)
    assert sorted(ends.values(), key=lambda end: end or datetime.max.replace(tzinfo=UTC))[-1] is None


def test_rolling_is_audited_and_emailed_with_the_overlaps_end(organisation, owner, django_capture_on_commit_callbacks):
    key, _ = make_key(organisation, owner, "Web shop", now=NOW - timedelta(days=1))
    old = key.secrets.get().prefix

    with django_capture_on_commit_callbacks(execute=True):
        _, plain = services.roll_key(key=key, overlap="24h", acting_user=owner, now=NOW)

    new = key.secrets.exclude(prefix=old).get().prefix
    event = AuditEvent.objects.get(action="api_key.rolled")
    assert event.target_label == f"Web shop ({new}…)"
    assert event.details == {
        "prefix": new,
        "replaced": [old],
        "overlap": "24h",
        "previous_valid_until": "2026-11-27T10:00:00+00:00",
    }
    [message] = mail.outbox
    assert message.subject == "API key “Web shop” of Acme Payments Ltd rolled"
    assert "The previous secret keeps working until 27 Nov 2026 at 10:00 UTC, then stops by itself." in message.body
    assert plain not in message.body


def test_a_wrong_overlap_is_refused(organisation, owner):
    key, _ = make_key(organisation, owner)

    with pytest.raises(ValidationError) as refused:
        services.roll_key(key=key, overlap="2h", acting_user=owner)

    assert errors(refused) == {"overlap": ["Choose how long the current secret keeps working."]}
    assert key.secrets.count() == 1


def test_revoked_and_expired_keys_cannot_be_rolled(organisation, owner):
    revoked, _ = make_key(organisation, owner, "Revoked")
    services.revoke_key(key=revoked, acting_user=owner)
    expiring, _ = make_key(organisation, owner, "Expiring", expires_on=date(2026, 11, 27), now=NOW)

    with pytest.raises(ValidationError) as was_revoked:
        services.roll_key(key=revoked, overlap="1h", acting_user=owner)
    with pytest.raises(ValidationError) as has_expired:
        services.roll_key(key=expiring, overlap="1h", acting_user=owner, now=NOW + timedelta(days=1))

    assert was_revoked.value.messages == ["“Revoked” was revoked: it cannot be rolled."]
    assert has_expired.value.messages == ["“Expiring” has expired: it cannot be rolled. Create a new key instead."]
    assert ApiKeySecret.objects.count() == 2


# --- Revoking ---------------------------------------------------------------------------------------


def test_revoking_ends_every_secret_at_once_even_during_an_overlap(
    organisation, owner, django_capture_on_commit_callbacks
):
    key, _ = make_key(organisation, owner, "Web shop", now=NOW - timedelta(days=1))
    services.roll_key(key=key, overlap="7d", acting_user=owner, now=NOW - timedelta(hours=1))
    assert len(platform_document(organisation)["keys"]) == 2

    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_key(key=key, acting_user=owner, now=NOW)

    key.refresh_from_db()
    assert (key.revoked_at, key.revoked_by) == (NOW, owner)
    assert platform_document(organisation)["keys"] == []
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert sorted(event.details["prefixes"]) == sorted(key.secrets.values_list("prefix", flat=True))
    [message] = mail.outbox
    assert message.subject == "API key “Web shop” of Acme Payments Ltd revoked"


def test_revoking_twice_says_so_and_changes_nothing(organisation, owner):
    key, _ = make_key(organisation, owner, "Web shop")
    services.revoke_key(key=key, acting_user=owner, now=NOW)

    with pytest.raises(ValidationError) as again:
        services.revoke_key(key=key, acting_user=owner)

    assert again.value.messages == ["“Web shop” was already revoked."]
    key.refresh_from_db()
    assert key.revoked_at == NOW
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_support_revokes_in_the_name_of_support(organisation, owner, support, django_capture_on_commit_callbacks):
    key, _ = make_key(organisation, owner, "Web shop")

    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_key(key=key, acting_user=support)

    assert AuditEvent.objects.get(action="api_key.revoked").actor == support
    assert "Support revoked the API key" in mail.outbox[0].body


# --- The environment --------------------------------------------------------------------------------


def test_keys_belong_to_the_environment_they_were_made_in(settings, organisation, owner):
    settings.PORTAL_ENVIRONMENT = "production"
    make_key(organisation, owner, "Live shop")
    settings.PORTAL_ENVIRONMENT = "test"
    make_key(organisation, owner, "Test shop")

    assert [row.key.name for row in selectors.key_rows(user=owner, now=NOW)] == ["Test shop"]
    assert [k["name"] for k in platform_document(organisation)["keys"]] == ["Test shop"]
    assert platform_document(organisation)["environment"] == "test"


def test_the_admins_email_escapes_a_key_name_in_its_html(organisation, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_key(organisation, owner, "<script>alert('x')</script> shop")

    [message] = mail.outbox
    html = message.alternatives[0].content
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; shop" in html
    assert "<script>alert('x')</script> shop" in message.body  # the text part is plain text
