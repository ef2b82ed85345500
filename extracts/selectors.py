"""Reads of the token extracts, always scoped to the user's organisation. No vault tokens here."""

import logging

from django.core.cache import cache
from django.db.models import QuerySet

from accounts.models import User
from extracts import vault
from extracts.models import ExtractKey, ExtractRequest, ExtractSchedule

logger = logging.getLogger(__name__)

RECENT = 20
# The page reloads every few seconds while an extract runs: the vault is counted once a minute at most.
VAULT_COUNT_SECONDS = 60
# What each column of an extract file holds (the columns are extracts.vault.CSV_HEADER, in order).
COLUMNS = {
    "token": "the vault token",
    "created_at": "when the token was created, in UTC (ISO 8601, e.g. 2026-12-03T14:05:09Z)",
}


def extracts_for(*, user: User) -> QuerySet[ExtractRequest]:
    if user.organisation_id is None:
        return ExtractRequest.objects.none()
    return ExtractRequest.objects.filter(organisation_id=user.organisation_id).select_related("requested_by", "file")


def recent_extracts(*, user: User) -> list[ExtractRequest]:
    return list(extracts_for(user=user)[:RECENT])


def schedule_for(*, user: User) -> ExtractSchedule | None:
    if user.organisation_id is None:
        return None
    return ExtractSchedule.objects.filter(organisation_id=user.organisation_id).first()


def extract_key_for(*, user: User) -> ExtractKey | None:
    """The public key the organisation's extracts are encrypted to, if its admins set one."""
    if user.organisation_id is None:
        return None
    return ExtractKey.objects.filter(organisation_id=user.organisation_id).select_related("set_by").first()


def extract_columns() -> list[tuple[str, str]]:
    """The columns of an extract file, in order, with what each holds."""
    return [(name, COLUMNS[name]) for name in vault.CSV_HEADER]


def vault_token_count(*, user: User) -> int | None:
    """How many tokens the organisation holds in the vault now (what an extract would write), or
    None when the vault cannot be read: the page shows it beside what the file contains."""
    if user.organisation is None:
        return None
    key = f"extracts:vault-count:{user.organisation_id}"
    count: int | None = cache.get(key)
    if count is None:
        try:
            count = vault.count_tokens(user.organisation.public_id)
        except Exception:  # a figure on the page; the page works without it (vault down, no table)
            logger.warning("Could not count the vault's tokens of organisation %s", user.organisation_id)
            return None
        cache.set(key, count, VAULT_COUNT_SECONDS)
    return count
