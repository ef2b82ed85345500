"""The Support group reads alarms and their webhooks (accounts/migrations/0002_support_group.py
made the group; this adds to it, with the reason beside each).

View only: alarms, webhooks and their secrets belong to the customer's admins (audited, emailed).
Idempotent, like the group's own migration.
"""

from django.db import migrations

SUPPORT_GROUP = "Support"

# (app label, model, why support reads it)
SUPPORT_VIEW = [
    ("alarms", "alarm", "answers why an alarm fired, or did not"),
    ("alarms", "alarmevent", "sees when an alarm fired and recovered, and what it read"),
    ("alarms", "webhookendpoint", "sees where an organisation's events go (never the signing secret)"),
    ("alarms", "webhookdelivery", "follows a webhook event's attempts and answers"),
    ("dashboard", "fiveminutemethodcount", "checks the 5-minute counters an alarm read"),
]


def add_view_permissions(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    alias = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = {(app, f"view_{model}") for app, model, _ in SUPPORT_VIEW}
    permissions = [
        p
        for p in Permission.objects.using(alias).select_related("content_type")
        if (p.content_type.app_label, p.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in permissions}
    if missing:
        raise RuntimeError(f"Permissions for the Support group not found: {sorted(missing)}")
    group, _ = Group.objects.using(alias).get_or_create(name=SUPPORT_GROUP)
    group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_support_group_api_keys"),  # after the group's latest full list
        ("dashboard", "0004_fiveminutemethodcount"),
        ("alarms", "0001_initial"),
    ]

    operations = [migrations.RunPython(add_view_permissions, migrations.RunPython.noop)]
