"""Template filters of the dashboard: timestamps the browser shows in the viewer's zone, money, percentages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


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
