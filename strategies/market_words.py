"""Market names where a person reads a run: its log lines and actions name 77-digit Polymarket token ids, which
say nothing to a person and push a phone's page sideways. The run's own action payloads carry each market's name;
an id without one is shortened (`183434…8212`) and kept whole for a tooltip. Used by the run page and the
websocket's events alike, so the live feed and a reloaded page read the same."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

LONG_ID = re.compile(r"\b\d{20,}\b")  # token ids; no price, size or order id runs this long
# A decimal with more than two places that ends in zeros (the ledger's 8 places, a price's 4): 0.3700 → 0.37.
PADDED = re.compile(r"(?<![\d.])(\d+\.\d\d\d*?)0+(?![\d.])")
NEGATIVE_DOLLARS = re.compile(r"\$-(?=\d)")  # "$-2.34" as the desk writes a loss; the dashboard says "−$2.34"
SHORT_KEEP = 16  # ids up to this length (tickers, symbols, short test ids) are shown whole


class Words(NamedTuple):
    """A line as shown, and the whole ids it names (for a tooltip; empty when nothing was replaced)."""

    text: str
    ids: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return " ".join(self.ids)


def short_id(market_id: str) -> str:
    return market_id if len(market_id) <= SHORT_KEEP else f"{market_id[:6]}…{market_id[-4:]}"


def market_names(payloads: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Token id → market name, from the payloads of a run's actions (signals and orders carry both)."""
    names: dict[str, str] = {}
    for payload in payloads:
        market_id, name = payload.get("market_id"), payload.get("market_name")
        if isinstance(market_id, str) and isinstance(name, str) and name.strip():
            names.setdefault(market_id, name.strip())
    return names


def market_label(market_id: str, name: str = "") -> str:
    return name.strip() or short_id(market_id)


def long_ids(messages: Iterable[str]) -> set[str]:
    return {market_id for message in messages for market_id in LONG_ID.findall(message)}


def named(message: str, names: Mapping[str, str]) -> Words:
    """`message` with every long id replaced by its market's name, else shortened, numbers without the zeros
    that pad them past two places, and a loss in dollars written as the rest of the dashboard writes it."""
    ids: list[str] = []

    def replace(match: re.Match[str]) -> str:
        ids.append(match.group(0))
        return market_label(match.group(0), names.get(match.group(0), ""))

    text = NEGATIVE_DOLLARS.sub("−$", PADDED.sub(r"\1", LONG_ID.sub(replace, message)))
    return Words(text, tuple(dict.fromkeys(ids)))


def action_words(message: str, payload: Mapping[str, Any], names: Mapping[str, str]) -> Words:
    """An action as shown: ids named; an action about a market its message does not name (a refusal says only
    why) ends with the market and side it was about."""
    words = named(message, names)
    market_id = payload.get("market_id")
    if not isinstance(market_id, str) or not market_id or market_id in message:
        return words
    name = str(payload.get("market_name") or names.get(market_id, ""))
    label = market_label(market_id, name)
    if name and name in message:
        return words
    side = str(payload.get("side") or "").upper()
    ids = words.ids if market_id in words.ids else (*words.ids, market_id)
    return Words(f"{words.text} — {label}{f', {side}' if side else ''}", ids)
