from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Usage dashboard and error logs"

    def ready(self) -> None:
        from dashboard import signals

        signals.connect()
