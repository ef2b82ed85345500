"""Backup codes stored before tokens/backup_codes.py become digests (one way: codes are not kept)."""

from typing import Any

from django.db import migrations

from tokens.backup_codes import DIGEST_LENGTH, digest


def codes_to_digests(apps: Any, schema_editor: Any) -> None:
    StaticToken = apps.get_model("otp_static", "StaticToken")
    # Plain codes were 8 characters; a digest is DIGEST_LENGTH hex characters.
    for token in StaticToken.objects.exclude(token__regex=rf"^[0-9a-f]{{{DIGEST_LENGTH}}}$").iterator():
        token.token = digest(token.token)
        token.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0003_email_code_device"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(codes_to_digests, migrations.RunPython.noop)]
