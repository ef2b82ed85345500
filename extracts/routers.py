class VaultRouter:
    """The "vault" connection is read by raw SQL only: no portal model lives or migrates there."""

    def db_for_read(self, model: type, **hints: object) -> str:
        return "default"

    def db_for_write(self, model: type, **hints: object) -> str:
        return "default"

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: object) -> bool:
        return db == "default"
