"""Geometry of the dashboard's server-drawn SVG line chart; the template draws it.

No script and no inline style (the CSP allows neither): colours come from CSS classes.
"""

import math
from dataclasses import dataclass
from datetime import date

from dashboard.selectors import Usage

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 36, 16, 44
PALETTE_SIZE = 8  # .chart-series--0 … --7 in portal.css; later methods reuse them, dashed


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


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def line_chart(usage: Usage) -> LineChart:
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    peak = max((max(day.calls, default=0) for day in usage.days), default=0)
    top_value = nice_ceiling(peak)
    count = len(usage.days)

    def x(index: int) -> float:
        return LEFT + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    def y(value: int) -> float:
        return TOP + plot_height - plot_height * value / top_value

    series = []
    for index, total in enumerate(usage.totals):
        points = " ".join(f"{x(i):.1f},{y(day.calls[index]):.1f}" for i, day in enumerate(usage.days))
        series.append(Series(method=total.method, points=points, css_class=series_class(index), total=total.calls))
    y_ticks = [Tick(position=f"{y(top_value * n // 4):.1f}", label=f"{top_value * n // 4:,}") for n in range(5)]
    every = max(1, math.ceil(count / 6))
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
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=TOP + plot_height,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=series,
        description=description,
    )
