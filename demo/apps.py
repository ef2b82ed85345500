from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Owns ``manage.py seed_demo``; the top layer, next to the composition root (portal)."""

    name = "demo"
    verbose_name = "Demo data"
