"""Support staff's role: the "Support" group (made by accounts/migrations/0002_support_group.py).

Its permissions, each with the reason support needs it, are listed in that migration.
"""

from django.contrib.auth.models import Group

SUPPORT_GROUP = "Support"


def support_group() -> Group:
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    return group
