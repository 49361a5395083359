"""The desk core that paper, live and the backtest share: an entry signal's plain values in, a sized order or a
refusal out. Signal -> side -> size -> risk; where the price comes from (the venue's book, a recorded book, the
last bar) and where the fill comes from (the paper book walk, the venue, the next bar or snapshot) stay with the
caller. Pure: no Django, no settings, no ledger (the money-pure contract), so it also runs inside the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.capital import QUANTITY_STEP, CapitalPlan, Exposures, Key, Sizing, cents, entry_size, worst_cost
from trading.risk import Authority, Refusal, entry_exposure, entry_refusal
from trading.venues.platforms import traits


def entry_side_refusal(venue: str, side: str) -> Refusal | None:
    """A side the venue cannot enter on, checked before any market data is read."""
    if traits(venue).sell_is_a_short and side == "sell":
        return Refusal("signal", "short selling is not supported: enter with side 'buy'")
    return None


@dataclass(frozen=True)
class EntryDecision:
    sizing: Sizing  # how it was sized, also when refused (the refusal's record shows it)
    refusal: Refusal | None  # None: place `sizing.quantity` at ≤ the limit


def entry_decide(plan: CapitalPlan, state: Exposures, *, key: Key, confidence: Decimal, size_usd: Decimal | None,
                 limit_price: Decimal, rate: Decimal | None, authority: Authority) -> EntryDecision:
    """Size an entry on `key` (venue, market, side) at prices ≤ `limit_price` and check it against every limit.

    `state` is the book as the limits see it (filled positions and working entries); `rate` the market's taker
    rate where the venue sets it by market. An entry sized to nothing is checked as the smallest order it could
    be, so the limit that left no room is the one that speaks.
    """
    venue = key[0]
    sizing = entry_size(plan, confidence=confidence, limit_price=limit_price, size_usd=size_usd,
                        position_cost_usd=state.position_cost_usd(key), available_usd=state.available_usd,
                        polymarket_rate=rate, equity_usd=state.capital_usd + state.unrealized_usd)
    cost = sizing.worst_cost_usd if sizing.quantity > 0 else worst_cost(
        venue, quantity=QUANTITY_STEP[venue], limit_price=limit_price, polymarket_rate=rate)
    refusal = entry_refusal(plan, entry_exposure(state, key, cost_usd=cost), authority)
    if refusal is None and sizing.quantity <= 0:
        refusal = Refusal("sizing", nothing_sized(sizing))
    return EntryDecision(sizing, refusal)


def nothing_sized(sizing: Sizing) -> str:
    if sizing.binding == "method" and sizing.kelly is not None:
        return f"kelly sizing sees no edge at price {sizing.limit_price} (f* = {sizing.kelly:.4f})"
    return (f"sized to nothing: {sizing.binding} leaves ${cents(sizing.budget_usd)}, "
            f"less than one unit at {sizing.limit_price}")
