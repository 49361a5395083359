"""Risk checks between a strategy and the venue (docs/money.md, "Risk checks"), on every order, whatever it asked.

Pure functions of plain values (no database, no settings): paper, live and the backtest call them.
The checks run in the design's order and the first that fails refuses the order with a reason
a person can act on. An entry is checked at its worst cost (quantity × limit + the most the fee
can be) against the ledger's exposures, where every order that may still fill already reserves its
own worst cost; an entry sized to nothing is checked as the smallest order it could have been, so
the limit that left no room is the one named. Exits reduce risk: only the venue, live-approval and
kill-switch checks apply to them. A strategy paused by a limit takes no new entries until a
person enables it again, even when its loss has since recovered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from trading.capital import CapitalPlan, Exposures, Key, cents
from trading.venues.platforms import traits


@dataclass(frozen=True)
class Refusal:
    check: str
    reason: str


@dataclass(frozen=True)
class EntryExposure:
    """What the ledger says, and what this order would add to it. Filled and still-working orders alike."""

    venue: str
    cost_usd: Decimal  # the order's worst cost
    available_usd: Decimal  # capital − open positions' cost − working entries' worst cost
    open_positions: int  # open positions + market sides a working entry would open
    adds_to_open_position: bool  # the market side is held or has a working entry
    position_cost_usd: Decimal  # the market side's cost basis + its working entries' worst cost
    spent_today_usd: Decimal  # today's entry fills + every working entry's worst cost, whatever day placed
    token_held_as: str = ""  # Polymarket: the other side this very token is already held or working as


def entry_exposure(ledger: Exposures, key: Key, *, cost_usd: Decimal) -> EntryExposure:
    venue, market_id, side = key
    held_as = "" if not traits(venue).token_per_outcome else next(
        (other for other in ("yes", "no") if other != side and ledger.holds((venue, market_id, other))), "")
    return EntryExposure(venue=venue, cost_usd=cost_usd, available_usd=ledger.available_usd,
                         open_positions=ledger.open_positions, adds_to_open_position=ledger.holds(key),
                         position_cost_usd=ledger.position_cost_usd(key), spent_today_usd=ledger.spent_today_usd,
                         token_held_as=held_as)


@dataclass(frozen=True)
class Authority:
    """Whether money may move at all: the mode, the version's live approval and the global kill switch."""

    live: bool
    approved_for_live: bool
    kill_switch: bool  # refuses live orders only; paper trading goes on
    daily_loss_reason: str = ""  # today's loss reached max_daily_loss in this cycle
    paused_reason: str = ""  # the strategy was already paused by a limit (enabled off, with a reason)


def venue_refusal(venue: str, *, platform: str, allowed_services: Sequence[str],
                  purpose: Literal["read", "order"]) -> Refusal | None:
    """The one venue check. Orders go only to the strategy's platform, whatever `allowed_services` says;
    market data may be read from any venue in `risk_limits.allowed_services` (which lists the platform)."""
    if purpose == "order":
        if venue != platform:
            return Refusal("venue", f"{venue} is not this strategy's platform ({platform}): orders go only there")
        return None
    if venue not in allowed_services:
        allowed = ", ".join(allowed_services)
        return Refusal("venue", f"{venue} is not in risk_limits.allowed_services ({allowed}): "
                                f"add it there to read its market data")
    return None


def polymarket_side_refusal(token: str, side: str, *, outcome_tokens: Sequence[str]) -> Refusal | None:
    """On Polymarket the market id is the outcome token bought, so `side` can only name that token's own
    outcome: "yes" for its market's first outcome (Yes, Up, …), "no" for the second. Any other side would
    buy the very same token under another name; betting against an outcome means buying the other token."""
    if token not in outcome_tokens[:2]:
        return None  # a market of more outcomes, or one not found: the token is bought as it is named
    index = list(outcome_tokens).index(token)
    own = ("yes", "no")[index]
    if side == own:
        return None
    other = outcome_tokens[1 - index] if len(outcome_tokens) > 1 else "(none)"
    return Refusal("signal", f"on polymarket the market id is the token bought: {token} is its market's "
                             f"{own.upper()} outcome, so its side is {own!r}; to bet {side.upper()}, buy the "
                             f"{side.upper()} token {other} with side {side!r}")


def authority_refusal(authority: Authority) -> Refusal | None:
    if authority.live and not authority.approved_for_live:
        return Refusal("live_approval", "live mode, and this exact version is not approved for live trading")
    if authority.live and authority.kill_switch:
        return Refusal("kill_switch", "the global kill switch is on: no live orders are sent")
    return None


def entry_refusal(plan: CapitalPlan, exposure: EntryExposure, authority: Authority) -> Refusal | None:
    """The first of the design's checks this entry fails, or None."""
    refusal = venue_refusal(exposure.venue, platform=plan.platform, allowed_services=plan.allowed_services,
                            purpose="order")
    if refusal:
        return refusal
    if exposure.token_held_as:
        return Refusal("token", f"this token is already held or being bought as {exposure.token_held_as!r}: "
                                "one position per Polymarket token")
    if authority.daily_loss_reason:
        return Refusal("max_daily_loss", authority.daily_loss_reason)
    if authority.paused_reason:
        return Refusal("paused", f"the strategy is paused ({authority.paused_reason}): no new entries until enabled")
    cost = exposure.cost_usd
    if plan.max_order_usd is not None and cost > plan.max_order_usd:
        return Refusal(
            "max_order_usd", f"order of ${cents(cost)} exceeds risk_limits.max_order_usd ${plan.max_order_usd}"
        )
    if cost > exposure.available_usd:
        return Refusal(
            "capital",
            f"capital would be over-deployed: order of ${cents(cost)}, "
            f"${cents(max(Decimal(0), exposure.available_usd))} available",
        )
    if not exposure.adds_to_open_position and exposure.open_positions >= plan.max_positions:
        return Refusal(
            "max_positions",
            f"max_positions reached: {exposure.open_positions} open (or being opened by working orders) "
            f"of capital.max_positions {plan.max_positions}",
        )
    if exposure.position_cost_usd + cost > plan.max_position_size:
        return Refusal(
            "max_position_size",
            f"position would exceed capital.max_position_size ${plan.max_position_size}: "
            f"holds ${cents(exposure.position_cost_usd)} filled or working, order of ${cents(cost)}",
        )
    if plan.max_daily_usd is not None and exposure.spent_today_usd + cost > plan.max_daily_usd:
        return Refusal(
            "max_daily_usd",
            f"today's spend would exceed risk_limits.max_daily_usd ${plan.max_daily_usd}: "
            f"${cents(exposure.spent_today_usd)} spent today (UTC) or reserved by working orders, "
            f"order of ${cents(cost)}",
        )
    return authority_refusal(authority)


def exit_refusal(plan: CapitalPlan, venue: str, authority: Authority) -> Refusal | None:
    return (venue_refusal(venue, platform=plan.platform, allowed_services=plan.allowed_services, purpose="order")
            or authority_refusal(authority))
