"""Geometry of the dashboard's server-drawn SVG line chart; the template draws it.

No script and no inline style (the CSP allows neither): colours come from CSS classes.
"""

import math
from dataclasses import dataclass
from datetime import date

from dashboard.selectors import Usage

PALETTE_SIZE = 8  # .chart-series--0 … --7 in portal.css; later methods reuse them, dashed


@dataclass(frozen=True)
class Layout:
    """A drawing's size and margins (SVG units) and how many day labels fit under it."""

    name: str  # the CSS class .chart--<name>
    element_id: str  # the prefix of the ids of its title and description
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    day_labels: int
    short_numbers: bool  # "80k" rather than "80,000" on the value axis


# The wide drawing, and the compact one phones show instead (portal.css): drawn smaller, so the
# labels come out larger on a narrow screen, with fewer days named and shorter numbers.
WIDE = Layout(
    name="wide",
    element_id="usage-chart",
    width=720,
    height=280,
    left=72,
    right=36,
    top=16,
    bottom=44,
    day_labels=6,
    short_numbers=False,
)
COMPACT = Layout(
    name="compact",
    element_id="usage-chart-compact",
    width=360,
    height=250,
    left=52,
    right=24,
    top=14,
    bottom=46,
    day_labels=4,
    short_numbers=True,
)


@dataclass(frozen=True)
class Tick:
    position: str  # an SVG coordinate, formatted here rather than by locale-aware template filters
    label: str


@dataclass(frozen=True)
class Series:
    method: str
    points: str  # "x,y x,y …" for <polyline>
    css_class: str
    total: int


@dataclass(frozen=True)
class LineChart:
    name: str
    element_id: str
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]
    description: str


def nice_ceiling(value: int) -> int:
    """Four equal steps of 1, 2 or 5 times a power of ten that reach value: round axis labels."""
    if value <= 0:
        return 4
    raw_step = value / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    for factor in (1, 2, 5, 10):
        step = factor * magnitude
        if step >= raw_step:
            break
    return max(4, math.ceil(step) * 4)


def series_class(index: int) -> str:
    css = f"chart-series--{index % PALETTE_SIZE}"
    return css + " chart-series--dashed" if index >= PALETTE_SIZE else css


def short_number(value: int) -> str:
    """80000 as "80k", 1500000 as "1.5M": axis labels that fit a phone."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.1f}".removesuffix(".0") + suffix
    return str(value)


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def line_chart(usage: Usage, layout: Layout = WIDE) -> LineChart:
    plot_width = layout.width - layout.left - layout.right
    plot_height = layout.height - layout.top - layout.bottom
    peak = max((max(day.calls, default=0) for day in usage.days), default=0)
    top_value = nice_ceiling(peak)
    count = len(usage.days)

    def x(index: int) -> float:
        return layout.left + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    def y(value: int) -> float:
        return layout.top + plot_height - plot_height * value / top_value

    series = []
    for index, total in enumerate(usage.totals):
        points = " ".join(f"{x(i):.1f},{y(day.calls[index]):.1f}" for i, day in enumerate(usage.days))
        series.append(Series(method=total.method, points=points, css_class=series_class(index), total=total.calls))
    values = [top_value * n // 4 for n in range(5)]
    y_ticks = [
        Tick(position=f"{y(value):.1f}", label=short_number(value) if layout.short_numbers else f"{value:,}")
        for value in values
    ]
    every = max(1, math.ceil(count / layout.day_labels))
    x_ticks = [
        Tick(position=f"{x(i):.1f}", label=f"{day.day.day} {day.day:%b}")
        for i, day in enumerate(usage.days)
        if (count - 1 - i) % every == 0
    ]
    described = ", ".join(f"{t.method} {t.calls:,}" for t in usage.totals)
    description = (
        f"Calls per day from {_long(usage.first_day)} to {_long(usage.last_day)}, one line per API method. "
        f"Totals: {described}. The table below lists every day."
    )
    return LineChart(
        name=layout.name,
        element_id=layout.element_id,
        width=layout.width,
        height=layout.height,
        plot_left=layout.left,
        plot_right=layout.width - layout.right,
        plot_top=layout.top,
        plot_bottom=layout.top + plot_height,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=series,
        description=description,
    )
