"""The vault's token count some days ahead: an ordinary least-squares line through the daily counts.

A straight line is the simplest honest guess at a count that grows by what customers tokenize: it
says nothing about seasons or a coming migration, and the page says what it was fitted to. With
fewer than three daily readings there is no forecast at all: two points always lie on a line, so
nothing would be left to tell how far off it may be.

The margin shown with it is one standard error of the prediction for that day (the scatter of the
readings around the line, widened the further the day lies from them), not a guarantee.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from dashboard.selectors import VaultReading

AHEAD_DAYS = 30
MIN_READINGS = 3


@dataclass(frozen=True)
class Forecast:
    day: date  # the day forecast
    token_count: int  # never below zero
    margin: int  # ± one standard error of the prediction
    per_day: float  # the fitted change a day
    readings: int  # daily readings fitted
    first_day: date  # of those readings
    last_day: date
    clamped: bool  # the line falls below zero by then: shown as 0
    start_value: float  # the line at first_day, for the chart

    def value_on(self, day: date) -> float:
        """The fitted line's value on a day (unclamped)."""
        return self.start_value + self.per_day * (day - self.first_day).days


@dataclass(frozen=True)
class Outlook:
    forecast: Forecast | None
    reason: str  # why there is no forecast; "" when there is one


def forecast(readings: Sequence[VaultReading], *, today: date, ahead: int = AHEAD_DAYS) -> Outlook:
    """The count ``ahead`` days after today, fitted to one reading a day (oldest first)."""
    if len(readings) < MIN_READINGS:
        have = {0: "there are none", 1: "there is one"}.get(len(readings), f"there are {len(readings)}")
        return Outlook(
            forecast=None,
            reason=f"A forecast needs the vault's count on at least {MIN_READINGS} days of the range; {have}.",
        )
    origin = readings[0].day
    xs = [(reading.day - origin).days for reading in readings]
    ys = [reading.token_count for reading in readings]
    slope, intercept = statistics.linear_regression(xs, ys)
    target = today + timedelta(days=ahead)
    x0 = (target - origin).days
    predicted = intercept + slope * x0
    # One standard error of a new observation at x0: the residual scatter, widened by the
    # distance of x0 from the readings' mean day.
    n = len(xs)
    mean_x = statistics.fmean(xs)
    spread = sum((x - mean_x) ** 2 for x in xs)
    residuals = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    scatter = math.sqrt(residuals / (n - 2))
    margin = scatter * math.sqrt(1 + 1 / n + (x0 - mean_x) ** 2 / spread)
    return Outlook(
        forecast=Forecast(
            day=target,
            token_count=max(0, round(predicted)),
            margin=round(margin),
            per_day=slope,
            readings=n,
            first_day=origin,
            last_day=readings[-1].day,
            clamped=predicted < 0,
            start_value=intercept,
        ),
        reason="",
    )
