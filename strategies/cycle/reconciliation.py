"""What reconciling the live ledger needs to know about strategies, gathered here (trading/reconcile.py
imports nothing from strategies): whose account a strategy trades on, which executions are still
running (their cycle owns its orders), and whether an unresolved order may be sent again now.

The desk (a live cycle), recovery (a lost worker) and the worker start call reconciliation through here.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from strategies.models import Execution, Mode, Strategy
from trading import reconcile
from trading.capital import CapitalPlan, WorkingEntry, worst_cost
from trading.killswitch import kill_switch_engaged
from trading.models import Order, OrderAction
from trading.reconcile import Note, Reconciliation, exits_working
from trading.risk import Authority, Refusal, entry_exposure, entry_refusal, exit_refusal
from trading.selectors import capital_state, position_for_entry
from trading.venues import VenueClient, polymarket_taker_rate_of
from trading.venues.platforms import traits


def executions_running() -> QuerySet[Execution, int]:
    """The ids of executions queued or running, as a subquery: read afresh by every query that uses it."""
    return Execution.objects.filter(status__in=Execution.ACTIVE).values_list("pk", flat=True)


def resend_refusal(order: Order, client: VenueClient) -> Refusal | None:
    """Why an unresolved order the venue never received may not be sent again now, or None.

    Only while the strategy may trade (live, enabled, not archived, this version approved for live,
    no kill switch), and only if the order passes the risk checks again as it would now, priced as the
    desk priced it: a Polymarket token at its own fee rate, read from `client` (VenueError if it cannot say).
    """
    strategy = Strategy.objects.get(pk=order.strategy_id)
    if strategy.status == Strategy.Status.ARCHIVED:
        return Refusal("archived", "the strategy is archived")
    if strategy.mode != Mode.LIVE:
        return Refusal("mode", f"the strategy is no longer live (mode {strategy.mode})")
    if not strategy.enabled:
        return Refusal("paused", f"the strategy is paused ({strategy.paused_reason or 'disabled'})")
    plan = CapitalPlan.from_config(strategy.config, strategy.platform)
    authority = Authority(live=True, approved_for_live=order.version.is_approved_for_live,
                          kill_switch=kill_switch_engaged())
    rest = order.quantity - order.filled_quantity
    if order.action == OrderAction.CLOSE:
        refusal = exit_refusal(plan, order.venue, authority)
        if refusal:
            return refusal
        position = position_for_entry(strategy_id=order.strategy_id, book=order.book, venue=order.venue,
                                      market_id=order.market_id, side=order.side)
        free = position.quantity - exits_working(position, excluding=order.pk) if position else Decimal(0)
        if rest > free:
            return Refusal("position", f"sells {rest.normalize():f}, more than the {free.normalize():f} held "
                                       "net of other working exits")
        return None
    assert order.limit_price is not None  # a live entry always has its limit
    entry = WorkingEntry((order.venue, order.market_id, order.side), rest, order.limit_price)
    # The ledger already reserves this order's worst cost: checked again as if it were new, without it.
    state = capital_state(strategy_id=order.strategy_id, book=order.book, total_capital=plan.total_capital,
                          now=timezone.now()).without(entry)
    rate = polymarket_taker_rate_of(client, order.market_id) if traits(order.venue).fee_rate_by_market else None
    cost = worst_cost(order.venue, quantity=rest, limit_price=order.limit_price, polymarket_rate=rate)
    return entry_refusal(plan, entry_exposure(state, entry.key, cost_usd=cost), authority)

def live_reconcile(*, strategy: Strategy, client: VenueClient, note: Note) -> Reconciliation:
    """One live strategy against its owner's account on its venue (trading.reconcile.live_reconcile)."""
    return reconcile.live_reconcile(strategy_id=strategy.pk, owner_id=strategy.owner_id, venue=strategy.platform,
                                    client=client, note=note, running=executions_running(), resend=resend_refusal)


def execution_orders_recover(execution_id: int, *, client_factory: Callable[[str], VenueClient]) -> list[str]:
    """The orders of a cycle whose worker was lost (trading.reconcile.execution_orders_recover)."""
    return reconcile.execution_orders_recover(execution_id, client_factory=client_factory, resend=resend_refusal)


def live_reconcile_all(*, client_factory: Callable[[int, str], VenueClient]) -> dict[int, Reconciliation]:
    """Every live strategy with working orders or open positions, when a worker starts."""
    return reconcile.live_reconcile_all(client_factory=client_factory, running=executions_running(),
                                        resend=resend_refusal)
