"""Filters for amounts on the billing pages, shared with the PDF: ``{{ amount|money }}``."""

from decimal import Decimal

from django import template

from billing import formatting

register = template.Library()


@register.filter
def money(value: Decimal) -> str:
    return formatting.money(value)


@register.filter
def quantity(value: Decimal) -> str:
    return formatting.quantity(value)


@register.filter
def unit_price(value: Decimal) -> str:
    return formatting.unit_price(value)
