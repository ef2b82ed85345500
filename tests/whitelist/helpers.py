from django.contrib.auth.models import Permission

from accounts.models import Organisation, User
from whitelist import services
from whitelist.models import WhitelistEntry


def grant_whitelist(user: User) -> User:
    """What an admin does on the user page: grant "Manage the API IP whitelist"."""
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="manage_whitelist"))
    return user


def add(
    organisation: Organisation,
    by: User | None,
    raw: str,
    description: str = "Office",
    *,
    confirm_broad: bool = False,
) -> WhitelistEntry:
    return services.add_entry(
        organisation=organisation, raw=raw, description=description, confirm_broad=confirm_broad, acting_user=by
    )


def networks(organisation: Organisation) -> list[str]:
    return sorted(WhitelistEntry.objects.filter(organisation=organisation).values_list("network", flat=True))
