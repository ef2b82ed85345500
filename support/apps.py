from django.apps import AppConfig
from django.forms import BaseForm


def _company_change_form() -> BaseForm:
    from support.forms import ChangeRequestForm

    return ChangeRequestForm()


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support tickets and resources"

    def ready(self) -> None:
        # The profile page shows support's company-details request form through accounts' port;
        # accounts never imports support.
        from accounts import profile_page

        profile_page.register_company_change_form(_company_change_form)
        # The error log links each failed call to its tickets and to "Ask support" through
        # dashboard's port; dashboard never imports support.
        from support import error_links

        error_links.register()
