"""On PostgreSQL, refuse any DELETE on the audit trail except the retention task's.

audit.services.delete_old_audit_events sets ``portal.audit_retention`` for its own transaction
(set_config(..., true)); every other DELETE -- a stray queryset, a shell, a future bug -- fails.
One check per statement, not per row. TRUNCATE (test database flushes) is not a DELETE.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_event_refuse_delete() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('portal.audit_retention', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit events are append-only: only the retention task deletes them'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_append_only
    BEFORE DELETE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_delete();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_refuse_delete();
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
