"""The profile page's form to request a change of company details: a port support fills at ready().

The profile page (accounts/views/profile.py) shows the registered company details and, under them,
the form to ask for a change. That request is a support ticket: its form, view and services live
in support, which accounts never imports (it sits below the features; pyproject.toml,
[tool.importlinter]). Support registers the empty form in ``SupportConfig.ready()``
(support/apps.py); its view posts there and re-renders this page with the bound form through
``accounts.views.profile.profile_context``.
"""

from collections.abc import Callable

from django import forms
from django.core.exceptions import ImproperlyConfigured

_factory: Callable[[], forms.BaseForm] | None = None


def register_company_change_form(factory: Callable[[], forms.BaseForm]) -> None:
    global _factory
    _factory = factory


def company_change_form() -> forms.BaseForm:
    """A new, empty company-details request form."""
    if _factory is None:
        raise ImproperlyConfigured("No company-change form registered: is the support app in INSTALLED_APPS?")
    return _factory()
