"""Reading a venue's error answer: its message and its retry hint."""

from __future__ import annotations

import json
import math
from email.utils import parsedate_to_datetime
from typing import Any

from trading.venues.errors import MalformedResponse, VenueError, error_for_status


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            from datetime import UTC, datetime

            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def venue_message(body: bytes | str) -> str:
    """The human message inside the JSON error shapes the three venues use."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        payload: Any = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or error)
        for key in ("error", "message", "msg", "errorMsg"):
            if payload.get(key):
                return str(payload[key])
    return text.strip()[:500]


def error_from_response(venue: str, status: int, body: bytes | str, retry_after: str | None) -> VenueError:
    return error_for_status(venue, status, venue_message(body), parse_retry_after(retry_after))


def json_or_malformed(venue: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise MalformedResponse(venue, f"response is not valid JSON: {body[:80]!r}") from error
