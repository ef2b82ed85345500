"""The vault's history and forecast on the dashboard (issue #16.3, SPEC §11): the last count of each
day of the range, drawn and tabled, and a straight-line forecast 30 days ahead with its basis."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard import charts
from dashboard import forecast as forecasting
from dashboard.forecast import forecast
from dashboard.models import VaultStat
from dashboard.selectors import VaultReading, vault_daily
from tests.dashboard.helpers import days_ago, table_rows, text_of, utc_today


def readings(*counts: int, first: date = date(2026, 11, 1), every: int = 1) -> list[VaultReading]:
    return [
        VaultReading(
            day=first + timedelta(days=n * every),
            token_count=count,
            at=datetime.combine(first + timedelta(days=n * every), time(23), tzinfo=UTC),
        )
        for n, count in enumerate(counts)
    ]


def stat(organisation, at: datetime, count: int) -> VaultStat:
    return VaultStat.objects.create(organisation=organisation, at=at, token_count=count)


def label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


# --- One point a day ----------------------------------------------------------------------------


def test_each_day_shows_its_last_reading_only(member, organisation, other_organisation):
    today = utc_today()
    stat(organisation, days_ago(2, hour=1), 100)
    stat(organisation, days_ago(2, hour=23, minute=59), 130)
    stat(organisation, days_ago(2, hour=12), 120)
    stat(organisation, days_ago(1, hour=8), 140)
    stat(organisation, days_ago(10), 50)  # before the range
    stat(other_organisation, days_ago(1, hour=23), 999_999)  # another organisation's, later that day

    with CaptureQueriesContext(connection) as queries:
        points = vault_daily(user=member, first_day=today - timedelta(days=6), last_day=today)

    assert len(queries) == 1
    assert [(p.day, p.token_count) for p in points] == [
        (today - timedelta(days=2), 130),
        (today - timedelta(days=1), 140),
    ]
    assert points[0].at == days_ago(2, hour=23, minute=59)


def test_two_readings_at_the_same_instant_take_the_one_stored_last(member, organisation):
    at = days_ago(1, hour=9)
    stat(organisation, at, 10)
    stat(organisation, at, 11)

    points = vault_daily(user=member, first_day=utc_today() - timedelta(days=6), last_day=utc_today())

    assert [p.token_count for p in points] == [11]


def test_a_user_without_an_organisation_has_no_vault_history(support):
    assert vault_daily(user=support, first_day=utc_today() - timedelta(days=6), last_day=utc_today()) == []


# --- The forecast ---------------------------------------------------------------------------------


def test_a_straight_line_is_continued_30_days_after_today_with_no_margin():
    points = readings(1_000, 1_100, 1_200, 1_300)  # 1 to 4 November, +100 a day
    today = date(2026, 11, 4)

    outlook = forecast(points, today=today)

    assert outlook.reason == ""
    result = outlook.forecast
    assert result is not None
    assert result.day == date(2026, 12, 4)
    assert result.token_count == 1_300 + 30 * 100
    assert result.margin == 0
    assert result.per_day == pytest.approx(100)
    assert (result.readings, result.first_day, result.last_day) == (4, date(2026, 11, 1), date(2026, 11, 4))
    assert not result.clamped


def test_the_margin_is_the_standard_error_of_the_prediction():
    # Scatter around +10 a day; missing days count by their date, not by their place in the list.
    points = readings(100, 112, 118, 133, 139, every=2)
    result = forecast(points, today=date(2026, 11, 9)).forecast
    assert result is not None

    xs, ys = [0, 2, 4, 6, 8], [100, 112, 118, 133, 139]
    slope = 4.95  # least squares by hand: Sxy / Sxx = 198 / 40
    intercept = 120.4 - slope * 4
    residuals = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    x0 = 8 + 30
    expected = (residuals / 3) ** 0.5 * (1 + 1 / 5 + (x0 - 4) ** 2 / 40) ** 0.5
    assert result.per_day == pytest.approx(slope)
    assert result.token_count == round(intercept + slope * x0)
    assert result.margin == round(expected)
    assert result.margin > 0


@pytest.mark.parametrize(("count", "why"), [(0, "there are none"), (1, "there is one"), (2, "there are 2")])
def test_fewer_than_three_daily_readings_give_no_forecast_and_say_why(count, why):
    outlook = forecast(readings(*range(count)), today=date(2026, 11, 30))

    assert outlook.forecast is None
    assert outlook.reason == f"A forecast needs the vault's count on at least 3 days of the range; {why}."
    assert forecasting.MIN_READINGS == 3


def test_a_shrinking_vault_is_forecast_at_zero_not_below():
    result = forecast(readings(300, 200, 100), today=date(2026, 11, 3)).forecast

    assert result is not None
    assert result.token_count == 0
    assert result.clamped
    assert result.value_on(result.day) < 0  # the line itself goes on; the page shows 0


# --- On the dashboard ----------------------------------------------------------------------------


@pytest.fixture
def growing_vault(organisation, other_organisation):
    """Ten days of readings, several a day, the day's last one 1,000 more than the day before."""
    for back in range(10, 0, -1):
        end_of_day = 100_000 + 1_000 * (10 - back)
        stat(organisation, days_ago(back, hour=6), end_of_day - 400)
        stat(organisation, days_ago(back, hour=22), end_of_day)
    stat(other_organisation, days_ago(1, hour=23), 777_777)


def test_the_dashboard_tables_the_days_last_counts_and_forecasts_with_its_basis(member_client, growing_vault):
    page = member_client.get("/").content.decode()

    today = utc_today()
    rows = table_rows(page, "vault-daily")
    assert rows[0] == ["Day", "Tokens"]
    assert rows[1] == [label(today - timedelta(days=1)), "109,000"]
    assert rows[10] == [label(today - timedelta(days=10)), "100,000"]
    target = today + timedelta(days=30)
    # +1,000 a day: from 109,000 yesterday to 31 days later.
    assert rows[11] == [f"Forecast, {target.day} {target:%b %Y}", "140,000 ± 0"]
    assert len(rows) == 12
    forecast_text = text_of(page, "vault-forecast-basis")
    first, last = today - timedelta(days=10), today - timedelta(days=1)
    assert forecast_text.startswith(
        f"A straight line (least squares) fitted to 10 daily readings between {first.day} {first:%b %Y} "
        f"and {last.day} {last:%b %Y}; ± is one standard error of the prediction"
    )
    about = "about <strong>140,000</strong> tokens, ± 0 (+1,000 a day)."
    assert f"Forecast for {target.day} {target:%b %Y}: {about}" in page
    assert "777,777" not in page


def test_the_vault_chart_is_described_for_screen_readers_and_has_the_forecast_point(member_client, growing_vault):
    page = member_client.get("/").content.decode()

    for element_id in ("vault-chart", "vault-chart-compact"):
        assert f'<title id="{element_id}-title">Tokens in the vault, day by day, with a forecast</title>' in page
        assert f'aria-labelledby="{element_id}-title {element_id}-desc"' in page
        desc = re.search(rf'<desc id="{element_id}-desc">([^<]*)</desc>', page)
        assert desc is not None
        assert "10 daily readings; the latest is 109,000." in desc.group(1)
        assert "forecasts 140,000 ± 0 on" in desc.group(1)
    vault_part = page[page.index('id="vault-growth"') :]
    assert vault_part.count('<circle class="chart-series--1"') == 2  # the forecast, in both drawings
    assert vault_part.count('<polyline class="chart-line') == 2 * 2  # the history and the line, twice
    assert "style=" not in page


def test_with_two_days_of_readings_the_page_says_why_there_is_no_forecast(member_client, organisation):
    stat(organisation, days_ago(3), 500)
    stat(organisation, days_ago(3, hour=20), 520)  # still one day
    stat(organisation, days_ago(1), 560)

    page = member_client.get("/").content.decode()

    assert "No forecast: A forecast needs the vault&#x27;s count on at least 3 days of the range; there are 2." in page
    assert table_rows(page, "vault-daily")[1:] == [
        [label(utc_today() - timedelta(days=1)), "560"],
        [label(utc_today() - timedelta(days=3)), "520"],
    ]
    assert 'id="vault-forecast-basis"' not in page


def test_without_readings_in_the_range_the_vault_section_says_so(member_client, organisation):
    stat(organisation, days_ago(40), 500)  # before the 30 days: the current count, but no history

    page = member_client.get("/").content.decode()

    assert text_of(page, "vault-tokens") == "500"
    assert "No vault counts in this range" in page
    assert "vault-chart" not in page


def test_the_history_and_forecast_follow_the_range(member_client, organisation):
    for back in (60, 50, 40, 20, 10, 5):
        stat(organisation, days_ago(back), 1_000 * (100 - back))

    in_30 = table_rows(member_client.get("/?days=30").content.decode(), "vault-daily")
    in_90 = table_rows(member_client.get("/?days=90").content.decode(), "vault-daily")
    in_7 = member_client.get("/?days=7").content.decode()

    assert [row[1] for row in in_30[1:-1]] == ["95,000", "90,000", "80,000"]
    assert [row[1] for row in in_90[1:-1]] == ["95,000", "90,000", "80,000", "60,000", "50,000", "40,000"]
    assert "there is one." in in_7
    assert [row[1] for row in table_rows(in_7, "vault-daily")[1:]] == ["95,000"]


def test_a_shrinking_vault_shows_a_forecast_of_zero_and_says_so(member_client, organisation):
    for back, count in ((3, 30_000), (2, 20_000), (1, 10_000)):
        stat(organisation, days_ago(back), count)

    page = member_client.get("/").content.decode()

    assert "about <strong>0</strong> tokens" in page
    assert "The line falls below zero before then: shown as 0." in page
    assert "(-10,000 a day)" in page


def test_the_phone_drawing_names_each_value_tick_apart(member_client, organisation):
    for back, count in ((3, 1_310_000), (2, 1_330_000), (1, 1_345_000)):
        stat(organisation, days_ago(back), count)

    page = member_client.get("/").content.decode()

    start = page.index('<svg class="chart chart--compact"', page.index('id="vault-growth"'))
    compact = page[start : page.index("</svg>", start)]
    labels = re.findall(r'<text class="chart-label chart-label--y" [^>]*>([^<]+)</text>', compact)
    assert len(set(labels)) == len(labels) == 5, labels
    assert all(label.endswith("M") for label in labels)


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (1_310_000, 1_390_000, ["1.3M", "1.35M", "1.4M", "1.45M", "1.5M"]),
        (100_000, 140_000, ["100k", "110k", "120k", "130k", "140k"]),
        # A flat vault: a band of a few tenths of a percent, not a few tokens magnified.
        (1_000_000, 1_000_000, ["1M", "1.005M", "1.01M", "1.015M", "1.02M"]),
        (0, 3, ["0", "1", "2", "3", "4"]),
        (500, 1_500, ["500", "1,000", "1,500", "2,000", "2,500"]),
    ],
)
def test_the_value_axis_is_round_exact_and_never_names_two_ticks_alike(low, high, ticks):
    bottom, top = charts.nice_range(low, high)

    assert bottom <= low and top >= high
    assert [charts.short_number(bottom + (top - bottom) * n // 4) for n in range(5)] == ticks
