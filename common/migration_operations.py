"""Migration operations Django lacks."""

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import ProjectState


class SetFillfactor(migrations.operations.base.Operation):
    """Leave ``percent`` of each new heap page filled on PostgreSQL (``ALTER TABLE ... SET (fillfactor)``).

    For counter tables whose rows are updated over and over right after they are inserted: the room
    left on the page lets PostgreSQL write each new version there (a HOT update), without a new
    entry in every index. Only pages written from now on are affected (no rewrite, no long lock);
    other databases have no such setting and are left alone.
    """

    reversible = True

    def __init__(self, model_name: str, percent: int) -> None:
        if not 10 <= percent <= 100:
            raise ValueError("fillfactor is a percentage from 10 to 100")
        self.model_name = model_name
        self.percent = percent

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [], {"model_name": self.model_name, "percent": self.percent}

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass  # a storage setting: the models do not change

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._set(app_label, schema_editor, to_state, f"SET (fillfactor = {int(self.percent)})")

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._set(app_label, schema_editor, to_state, "RESET (fillfactor)")

    def _set(self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, state: ProjectState, change: str) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        model = state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return  # a database the routers keep the table out of (the vault)
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(model._meta.db_table)} {change}")

    def describe(self) -> str:
        return f"Set the fillfactor of {self.model_name} to {self.percent}"
