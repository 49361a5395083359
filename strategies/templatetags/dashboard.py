"""Template filters of the dashboard: timestamps the browser shows in the viewer's zone, money, prices, quantities,
percentages, and markets by name. The ledger keeps 8 places (`776.28000000`); a person reads `776.28`."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from strategies.market_words import market_label
from strategies.models import BacktestStatus

register = template.Library()

QUANTITY_PLACES = Decimal("0.0001")  # a Polymarket size has 2 places, an Alpaca fraction up to 9: 4 read well
PRICE_PLACES = Decimal("0.0001")  # ticks are 0.01 or 0.001 on the prediction markets, 0.0001 below $1 on Alpaca


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _plain(number: Decimal) -> str:
    """Thousands separated, no trailing zeros, never an exponent (Decimal("1E+2") is 100)."""
    return f"{number.normalize():,f}" if number else "0"


@register.filter
def moment(value: datetime | None, style: str = "datetime") -> SafeString | str:
    """A <time> in UTC that static/js/dashboard.js rewrites into the viewer's zone, UTC kept on hover."""
    if value is None:
        return "—"
    utc = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html('<time datetime="{}" data-local="{}" title="{}">{}</time>', value.isoformat(), style, utc, utc)


@register.filter
def usd(value: Any) -> str:
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value))
    sign = "−" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


@register.filter
def quantity(value: Any) -> str:
    """776.28000000 → 776.28; 1500.00000000 → 1,500."""
    number = _decimal(value)
    if number is None:
        return "—" if value in (None, "") else str(value)
    return _plain(number.quantize(QUANTITY_PLACES, rounding=ROUND_HALF_EVEN))


@register.filter
def price(value: Any) -> str:
    """A price as the venue quotes it: 0.3700 → 0.37, 0.837 → 0.837, 183.69000000 → 183.69 (2 to 4 places)."""
    number = _decimal(value)
    if number is None:
        return "—" if value in (None, "") else str(value)
    shown = _plain(number.quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN))
    places = len(shown.partition(".")[2])
    return shown + ("." if not places else "") + "0" * max(0, 2 - places)


@register.filter
def market(row: Any) -> SafeString:
    """An order's, a position's or a trade's market by name, its id on hover; a long id without a name shortened."""
    get = row.get if isinstance(row, dict) else lambda key, default="": getattr(row, key, default)
    market_id, name = str(get("market_id", "") or ""), str(get("market_name", "") or "")
    return format_html('<span class="market" title="{}">{}</span>', market_id, market_label(market_id, name))


@register.filter
def number(value: Any, places: int = 2) -> str:
    """A ratio or a count with a fixed number of places: Sharpe 1.2345678 → 1.23."""
    parsed = _decimal(value)
    if parsed is None:
        return "—"
    return f"{parsed:,.{places}f}"


@register.filter
def backtest_range(backtest: Any) -> str:
    """The days a backtest covered: those asked for, else the data's own first and last (its metrics say)."""
    metrics = backtest.metrics or {}
    start = backtest.start.date().isoformat() if backtest.start else str(metrics.get("start") or "")[:10]
    end = backtest.end.date().isoformat() if backtest.end else str(metrics.get("end") or "")[:10]
    if not start and not end:
        waiting = backtest.status in (BacktestStatus.QUEUED, BacktestStatus.RUNNING)
        return "the data's whole range" if waiting else "—"
    return f"{start or 'first day'} → {end or 'last day'}"


@register.filter
def percent(value: Any) -> str:
    if value is None:
        return "—"
    return f"{Decimal(str(value)) * 100:.1f} %"


def interval_words(seconds: int) -> str:
    """60 → "60 seconds" (as the design's cards say), 300 → "5 minutes", 7200 → "2 hours", 86400 → "day"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= max(size, 120) and seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


@register.filter
def every(seconds: int) -> str:
    return f"Runs every {interval_words(seconds)}"
