from django.db import migrations

DEFAULT_NAMES = {
    "totp": "Authenticator app",
    "hotp": "Hardware token",
    "sms": "Text message (SMS)",
    "email": "Email",
    "backup": "Backup codes",
}


def create_types(apps, schema_editor):
    TokenType = apps.get_model("tokens", "TokenType")
    for kind, name in DEFAULT_NAMES.items():
        TokenType.objects.get_or_create(kind=kind, defaults={"display_name": name})


class Migration(migrations.Migration):
    dependencies = [("tokens", "0001_initial")]
    operations = [migrations.RunPython(create_types, migrations.RunPython.noop)]
