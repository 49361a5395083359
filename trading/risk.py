"""Risk checks between a strategy and the venue (design §4), run on every order whatever the script asked.

The checks run in the design's order and the first that fails refuses the order with a reason
a person can act on. An entry is checked at its worst cost (quantity × limit + the most the fee
can be); an entry sized to nothing is checked as the smallest order it could have been, so the
limit that left no room is the one named. Exits reduce risk: only the venue, live-approval and
kill-switch checks apply to them. A strategy paused by a limit takes no new entries until a
person enables it again, even when its loss has since recovered.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.capital import CapitalPlan, cents


@dataclass(frozen=True)
class Refusal:
    check: str
    reason: str


@dataclass(frozen=True)
class EntryExposure:
    """What the ledger says, and what this order would add to it."""

    venue: str
    cost_usd: Decimal  # the order's worst cost
    available_usd: Decimal
    open_positions: int
    adds_to_open_position: bool
    position_cost_usd: Decimal
    spent_today_usd: Decimal


@dataclass(frozen=True)
class Authority:
    """Whether money may move at all: the mode, the version's live approval and the global kill switch."""

    live: bool
    approved_for_live: bool
    kill_switch: bool  # refuses live orders only; paper trading goes on
    daily_loss_reason: str = ""  # today's loss reached max_daily_loss in this cycle
    paused_reason: str = ""  # the strategy was already paused by a limit (enabled off, with a reason)


def venue_refusal(plan: CapitalPlan, venue: str) -> Refusal | None:
    if venue != plan.platform:
        return Refusal("venue", f"{venue} is not this strategy's platform ({plan.platform})")
    if venue not in plan.allowed_services:
        allowed = ", ".join(plan.allowed_services)
        return Refusal("venue", f"{venue} is not in risk_limits.allowed_services ({allowed})")
    return None


def authority_refusal(authority: Authority) -> Refusal | None:
    if authority.live and not authority.approved_for_live:
        return Refusal("live_approval", "live mode, and this exact version is not approved for live trading")
    if authority.live and authority.kill_switch:
        return Refusal("kill_switch", "the global kill switch is on: no live orders are sent")
    return None


def entry_refusal(plan: CapitalPlan, exposure: EntryExposure, authority: Authority) -> Refusal | None:
    """The first of the design's checks this entry fails, or None."""
    refusal = venue_refusal(plan, exposure.venue)
    if refusal:
        return refusal
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
            f"max_positions reached: {exposure.open_positions} open of capital.max_positions {plan.max_positions}",
        )
    if exposure.position_cost_usd + cost > plan.max_position_size:
        return Refusal(
            "max_position_size",
            f"position would exceed capital.max_position_size ${plan.max_position_size}: "
            f"holds ${cents(exposure.position_cost_usd)}, order of ${cents(cost)}",
        )
    if plan.max_daily_usd is not None and exposure.spent_today_usd + cost > plan.max_daily_usd:
        return Refusal(
            "max_daily_usd",
            f"today's spend would exceed risk_limits.max_daily_usd ${plan.max_daily_usd}: "
            f"${cents(exposure.spent_today_usd)} spent today (UTC), order of ${cents(cost)}",
        )
    return authority_refusal(authority)


def exit_refusal(plan: CapitalPlan, venue: str, authority: Authority) -> Refusal | None:
    return venue_refusal(plan, venue) or authority_refusal(authority)
