"""The "Support" group: what support staff may do in the admin, and nothing more (SPEC §0, §10).

Support staff are ``is_staff`` users in this group, not superusers. Each permission is here for a
job SPEC gives support; the reason is next to it. Left out on purpose:

- every django-otp device and static token (otp_*) and tokens.SmsDevice: a factor's secret is
  never support's to see or edit; support acts on factors through tokens.Token ("reset second
  factors", test, resynchronise, disable, unlock, delete);
- any change to the audit trail (view only), to what the platform reported (dashboard: view
  only) and to an organisation's IP whitelist (its admins change it, audited and emailed);
- deleting organisations, users, tickets, files or platform keys (deactivate, close, revoke:
  the audit trail keeps naming them);
- auth (groups, permissions), sessions, django-axes, admin log entries, token extract schedules.

Idempotent: running it again (or on a database where someone edited the group) sets the group's
permissions to exactly this list. Change the list in a new migration that does the same.
"""

from django.db import migrations

SUPPORT_GROUP = "Support"

# (app label, model, actions, why support needs them)
SUPPORT_PERMISSIONS = [
    ("accounts", "organisation", ("view", "add", "change"), "creates organisations, marks them verified, sets the user limit"),
    ("accounts", "user", ("view", "add", "change"), "creates an organisation's first admin, resends the welcome email, deactivates, resets a user's factors"),
    ("accounts", "companydetailschangerequest", ("view", "change"), "applies or rejects a company-details change request"),
    ("audit", "auditevent", ("view",), "reads every organisation's audit trail; nobody changes it"),
    ("tokens", "tokentype", ("view", "change"), "renames the token types users see"),
    ("tokens", "token", ("view", "add", "change", "delete"), "tests, resynchronises, disables, enables, unlocks and deletes a user's tokens; adds a hardware token"),
    ("platform_api", "platformkey", ("view", "add", "change"), "issues and revokes the platform's ingestion keys"),
    ("dashboard", "dailymethodcount", ("view",), "answers questions about what the platform reported"),
    ("dashboard", "errorlog", ("view",), "finds a customer's failed call by its request id"),
    ("dashboard", "ingestedbatch", ("view",), "checks whether a batch from the platform arrived"),
    ("dashboard", "vaultstat", ("view",), "answers questions about vault sizes"),
    ("whitelist", "whitelistentry", ("view",), "reads an organisation's IP whitelist; its admins change it"),
    ("files", "storedfile", ("view", "change"), "downloads customers' files and marks compliance documents reviewed"),
    ("support", "ticket", ("view", "add", "change"), "answers tickets, opens them for a customer, assigns and closes them"),
    ("support", "comment", ("view",), "reads a ticket's thread"),
    ("support", "attachment", ("view",), "sees a ticket's attachments"),
    ("support", "resourcelink", ("view", "add", "change", "delete"), "keeps the Resources page's links"),
    ("billing", "invoice", ("view", "add", "change", "delete"), "issues invoices; deletes a draft (never a published one)"),
    ("billing", "invoiceline", ("view", "add", "change", "delete"), "writes a draft invoice's lines"),
    ("extracts", "extractrequest", ("view", "change"), "sees token extracts' status and retries a failed one (never their contents)"),
]


def support_codenames(permissions=SUPPORT_PERMISSIONS) -> set[tuple[str, str]]:
    return {(app, f"{action}_{model}") for app, model, actions, _ in permissions for action in actions}


def create_support_group(apps, schema_editor):
    set_support_group(apps, schema_editor, SUPPORT_PERMISSIONS)


def set_support_group(apps, schema_editor, support_permissions):
    """Give the group exactly ``support_permissions``; later migrations call it with a longer list."""
    from django.contrib.auth.management import create_permissions

    alias = schema_editor.connection.alias
    # On a new database the permissions are only created after the last migration: make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = support_codenames(support_permissions)
    permissions = [
        p
        for p in Permission.objects.using(alias).select_related("content_type")
        if (p.content_type.app_label, p.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in permissions}
    if missing:
        raise RuntimeError(f"Permissions for the Support group not found: {sorted(missing)}")
    group, _ = Group.objects.using(alias).get_or_create(name=SUPPORT_GROUP)
    group.permissions.set(permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("audit", "0001_initial"),
        ("tokens", "0004_backup_codes_as_digests"),
        ("platform_api", "0001_initial"),
        ("dashboard", "0001_initial"),
        ("whitelist", "0001_initial"),
        ("files", "0001_initial"),
        ("support", "0001_initial"),
        ("billing", "0001_initial"),
        ("extracts", "0002_attempts"),
    ]

    # Backwards: the group stays (it may have members); nothing to undo.
    operations = [migrations.RunPython(create_support_group, migrations.RunPython.noop)]
