"""SetFillfactor: the counter tables keep room on their pages on PostgreSQL; other databases are left alone."""

import pytest
from django.apps import apps
from django.db import connection, connections
from django.db.migrations.state import ProjectState

from common.migration_operations import SetFillfactor
from dashboard.models import DailyMethodCount, FiveMinuteMethodCount
from whitelist.models import DailySourceCount


def fillfactor(model) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [model._meta.db_table])
        options = cursor.fetchone()[0] or []
    return next((option.split("=")[1] for option in options if option.startswith("fillfactor=")), None)


def sql_of_setting_70(database) -> list[str]:
    """What SetFillfactor would run on ``database`` (collected, not run)."""
    state = ProjectState.from_apps(apps)
    with database.schema_editor(collect_sql=True) as editor:
        SetFillfactor("dailymethodcount", 70).database_forwards("dashboard", editor, state, state)
    return editor.collected_sql


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_counter_tables_leave_room_for_updates_on_their_pages():
    assert fillfactor(DailyMethodCount) == "90"
    assert fillfactor(FiveMinuteMethodCount) == "50"
    assert fillfactor(DailySourceCount) == "90"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_operation_is_reversed_and_applied_again():
    operation = SetFillfactor("dailymethodcount", 70)
    state = ProjectState.from_apps(apps)
    try:
        with connection.schema_editor() as editor:
            operation.database_forwards("dashboard", editor, state, state)
        assert fillfactor(DailyMethodCount) == "70"
        with connection.schema_editor() as editor:
            operation.database_backwards("dashboard", editor, state, state)
        assert fillfactor(DailyMethodCount) is None
    finally:
        with connection.schema_editor() as editor:
            SetFillfactor("dailymethodcount", 90).database_forwards("dashboard", editor, state, state)
    assert fillfactor(DailyMethodCount) == "90"


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_the_operation_changes_nothing():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite case")
    assert sql_of_setting_70(connection) == []


@pytest.mark.parametrize("percent", [0, 9, 101])
def test_a_fillfactor_outside_10_to_100_is_refused(percent):
    with pytest.raises(ValueError, match="from 10 to 100"):
        SetFillfactor("dailymethodcount", percent)


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "vault"], transaction=True)
def test_a_database_the_routers_keep_the_table_out_of_is_left_alone():
    vault = connections["vault"]
    if vault.vendor != "postgresql":
        pytest.skip("the vault is not PostgreSQL here")
    assert sql_of_setting_70(vault) == []
