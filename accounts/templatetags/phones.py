"""Phone numbers in templates: ``{{ number|phone }}`` ("+44 7400 123456"), ``{{ number|phone_masked }}``."""

from typing import Any

from django import template

from accounts import phones

register = template.Library()


@register.filter
def phone(number: Any) -> str:
    return phones.format_international(number)


@register.filter
def phone_masked(number: Any) -> str:
    """Only the last four digits, for pages shown before the second factor (the login's code step)."""
    return phones.mask_phone_number(number) if number else ""
