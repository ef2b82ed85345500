from collections.abc import Iterable
from datetime import date, datetime

from django.contrib.auth.models import Permission

from accounts.models import Organisation, User
from apikeys import services
from apikeys.models import ApiKey
from tests.whitelist.helpers import add


def grant_api_keys(user: User) -> User:
    """What an admin does on the user page: grant "Manage API keys". Returns the user as loaded anew
    (a loaded user caches its permissions)."""
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="manage_api_keys"))
    return User.objects.get(pk=user.pk)


def whitelist(organisation: Organisation, by: User | None, *networks: str) -> None:
    for network in networks:
        add(organisation, by, network, f"Servers {network}")


def make_key(
    organisation: Organisation,
    by: User | None,
    name: str = "Web shop",
    *,
    methods: Iterable[str] = ("Tokenize",),
    addresses: Iterable[str] = (),
    expires_on: date | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    return services.create_key(
        organisation=organisation,
        name=name,
        methods=list(methods),
        addresses=list(addresses),
        expires_on=expires_on,
        acting_user=by,
        now=now,
    )
