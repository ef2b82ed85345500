"""The "Support" group, as 0002_support_group.py made it, plus customers' API keys (issue 20).

Support reads every organisation's keys (never a secret: only hashes are stored, and the admin
shows no hash), and may revoke one in an emergency (a leaked key reported to support) through the
admin's "Revoke selected keys" action, which goes through apikeys.services: audited and emailed
to the organisation's admins. Creating and rolling keys stays with the customers' admins.

Like 0002, it sets the group's permissions to exactly this list; change it in a new migration
that does the same (and point accounts.roles.SUPPORT_GROUP_MIGRATION at it).
"""

import importlib

from django.db import migrations

previous = importlib.import_module("accounts.migrations.0002_support_group")

SUPPORT_PERMISSIONS = [
    *previous.SUPPORT_PERMISSIONS,
    ("apikeys", "apikey", ("view", "change"), "reads customers' API keys; revokes a leaked one (the admin changes nothing else)"),
    ("apikeys", "apikeysecret", ("view",), "sees each key's prefixes and when each secret works"),
]


def create_support_group(apps, schema_editor):
    previous.set_support_group(apps, schema_editor, SUPPORT_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_manage_api_keys_permission"),
        ("apikeys", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_support_group, migrations.RunPython.noop)]
