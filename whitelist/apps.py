from django.apps import AppConfig


class WhitelistConfig(AppConfig):
    name = "whitelist"
    verbose_name = "API IP whitelist"
