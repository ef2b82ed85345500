"""Support staff's role: the "Support" group (made by accounts/migrations/0002_support_group.py).

Its permissions, each with the reason support needs it, are listed in that migration and in the
later ones that set the group again with a longer list; the latest is SUPPORT_GROUP_MIGRATION.
"""

from django.contrib.auth.models import Group

SUPPORT_GROUP = "Support"
# The migration that last set the group's permissions (tests run it again after a flush).
SUPPORT_GROUP_MIGRATION = "0004_support_group_api_keys"


def support_group() -> Group:
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    return group
