"""How amounts read on the invoice pages and PDFs: grouped thousands, no float on the way."""

from decimal import Decimal

from billing.models import round_money


def money(value: Decimal) -> str:
    """Two decimals, thousands grouped: 1234.5 -> "1,234.50"."""
    return f"{round_money(value):,}"


def quantity(value: Decimal) -> str:
    """As few decimals as the value needs: 3.000 -> "3", 1234.500 -> "1,234.5"."""
    return f"{value.normalize():,f}"


def unit_price(value: Decimal) -> str:
    """At least two decimals, more for per-call prices: 0.0004 -> "0.0004", 12 -> "12.00"."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{value.quantize(Decimal(1).scaleb(-places)):,}"
