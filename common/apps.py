from django.apps import AppConfig


class CommonConfig(AppConfig):
    """The bottom layer: delivery of mail and SMS, rate limits, CSV, downloads, cached fragments and
    shared form fields. It imports no other app of the portal (pyproject.toml, [tool.importlinter])."""

    name = "common"
    verbose_name = "Shared pieces"
