"""Geometry of the dashboard's server-drawn SVG line chart; the template draws it.

No script and no inline style (the CSP allows neither): colours come from CSS classes.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from dashboard.forecast import Forecast
from dashboard.selectors import Usage, VaultReading

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


# The vault's history and forecast: the same two drawings, a little lower, with ids of their own.
VAULT_WIDE = replace(WIDE, element_id="vault-chart", height=240, left=88)  # room for "1,450,000"
VAULT_COMPACT = replace(COMPACT, element_id="vault-chart-compact", height=220, left=72)  # room for "1.35M"


@dataclass(frozen=True)
class Tick:
    position: str  # an SVG coordinate, formatted here rather than by locale-aware template filters
    label: str


@dataclass(frozen=True)
class Series:
    method: str  # what the line is (the legend's words)
    points: str  # "x,y x,y …" for <polyline>
    css_class: str
    total: int
    tooltip: str = ""  # the line's <title>


@dataclass(frozen=True)
class Marker:
    """A point with an error bar (the forecast): its position and the bar's ends, SVG units."""

    x: str
    y: str
    y_low: str
    y_high: str
    tooltip: str


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
    title: str = "API calls per day, by method"
    value_title: str = "Calls per day"
    marker: Marker | None = None
    today: Tick | None = None  # where the history ends and the forecast begins


def _framed(layout: Layout, plot_height: int, **drawing: Any) -> LineChart:
    """A chart in ``layout``'s frame: its size, and the plot area inside the margins."""
    return LineChart(
        name=layout.name,
        element_id=layout.element_id,
        width=layout.width,
        height=layout.height,
        plot_left=layout.left,
        plot_right=layout.width - layout.right,
        plot_top=layout.top,
        plot_bottom=layout.top + plot_height,
        **drawing,
    )


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
    """80000 as "80k", 1500000 as "1.5M", 1350000 as "1.35M": axis labels that fit a phone, with the
    decimals a round tick needs (up to three), so two ticks never read the same."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= max(size, 10_000):  # "9,500" fits as well as "9.5k" and reads better
            for decimals in range(4):
                text = f"{value / size:.{decimals}f}"
                if round(float(text) * size) == value:
                    break
            return text + suffix
    return f"{value:,}"


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
        series.append(
            Series(
                method=total.method,
                points=points,
                css_class=series_class(index),
                total=total.calls,
                tooltip=f"{total.method}: {total.calls:,} calls",
            )
        )
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
    return _framed(
        layout,
        plot_height,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=series,
        description=description,
    )


def nice_range(low: float, high: float) -> tuple[int, int]:
    """Four equal steps of 1, 2 or 5 times a power of ten from a round bottom past high: a level's
    axis (the vault's count), which need not start at zero to show how it moves.

    A step is at least 1/400 of high: a change of a few tokens in a million is drawn flat rather
    than filling the chart, and the phone's short labels ("1.005M") stay exact and apart."""
    low, high = max(0, math.floor(low)), math.ceil(high)
    raw_step = max(1.0, (high - low) / 4, high / 400)
    while True:
        magnitude = 10 ** math.floor(math.log10(raw_step))
        step = next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= raw_step)
        bottom = low // step * step
        if bottom + 4 * step >= high:
            return int(bottom), int(bottom + 4 * step)
        raw_step = step * 1.01


def vault_chart(
    readings: Sequence[VaultReading],
    forecast: Forecast | None,
    *,
    first_day: date,
    last_day: date,
    layout: Layout = VAULT_WIDE,
) -> LineChart:
    """The last count of each day of the range, and the forecast's line, point and margin after it."""
    plot_width = layout.width - layout.left - layout.right
    plot_height = layout.height - layout.top - layout.bottom
    range_end = last_day
    if forecast is not None:
        last_day = forecast.day
    span = max(1, (last_day - first_day).days)
    values: list[float] = [reading.token_count for reading in readings]
    trend: list[tuple[date | float, float]] = []
    if forecast is not None:
        start, end = forecast.value_on(forecast.first_day), forecast.value_on(forecast.day)
        trend = [(forecast.first_day, start), (forecast.day, end)]
        if end < 0 <= start:  # the line reaches zero before the day forecast: stop it there
            crossing = (forecast.first_day - first_day).days + start / -forecast.per_day
            trend = [(forecast.first_day, start), (crossing, 0.0), (forecast.day, 0.0)]
        values += [start, forecast.token_count - forecast.margin, forecast.token_count + forecast.margin]
    bottom, top = nice_range(min(values), max(values))

    def x(day: date | float) -> float:
        offset = (day - first_day).days if isinstance(day, date) else day
        return layout.left + plot_width * offset / span

    def y(value: float) -> float:
        value = min(max(value, bottom), top)
        return layout.top + plot_height - plot_height * (value - bottom) / (top - bottom)

    history = " ".join(f"{x(r.day):.1f},{y(r.token_count):.1f}" for r in readings)
    latest = readings[-1]
    series = [
        Series(
            method="Tokens at the end of each day",
            points=history,
            css_class=series_class(0),
            total=latest.token_count,
            tooltip=f"Tokens in the vault: {latest.token_count:,} on {_long(latest.day)}",
        )
    ]
    marker = today = None
    description = (
        f"Tokens in the vault at the end of each day from {_long(readings[0].day)} to {_long(latest.day)}, "
        f"{len(readings)} daily readings; the latest is {latest.token_count:,}."
    )
    if forecast is not None:
        series.append(
            Series(
                method=f"Straight-line forecast to {_long(forecast.day)}",
                points=" ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in trend),
                css_class=series_class(PALETTE_SIZE + 1),
                total=forecast.token_count,
                tooltip=f"Forecast: {forecast.token_count:,} ± {forecast.margin:,} on {_long(forecast.day)}",
            )
        )
        marker = Marker(
            x=f"{x(forecast.day):.1f}",
            y=f"{y(forecast.token_count):.1f}",
            y_low=f"{y(forecast.token_count - forecast.margin):.1f}",
            y_high=f"{y(forecast.token_count + forecast.margin):.1f}",
            tooltip=series[-1].tooltip,
        )
        today = Tick(position=f"{x(range_end):.1f}", label="Today")
        description += (
            f" A straight line fitted to them forecasts {forecast.token_count:,} ± {forecast.margin:,} "
            f"on {_long(forecast.day)}."
        )
    description += " The table below lists every reading."
    y_ticks = [
        Tick(position=f"{y(value):.1f}", label=short_number(value) if layout.short_numbers else f"{value:,}")
        for value in (bottom + (top - bottom) * n // 4 for n in range(5))
    ]
    every = max(1, math.ceil((span + 1) / layout.day_labels))
    x_ticks = []
    for offset in range(span, -1, -every):
        day = date.fromordinal(first_day.toordinal() + offset)
        x_ticks.append(Tick(position=f"{x(day):.1f}", label=f"{day.day} {day:%b}"))
    return _framed(
        layout,
        plot_height,
        x_ticks=x_ticks[::-1],
        y_ticks=y_ticks,
        series=series,
        description=description,
        title="Tokens in the vault, day by day, with a forecast",
        value_title="Tokens",
        marker=marker,
        today=today,
    )
