from django.apps import AppConfig


class ExtractsConfig(AppConfig):
    name = "extracts"
    verbose_name = "Batch token extracts"
