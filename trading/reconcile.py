"""Reconciliation of the live ledger with the venue (docs/money.md, "Reconciliation").

Run at the start of every live cycle and, for every live strategy, when a worker starts:

1. orders whose outcome is unknown (`unresolved`) are settled by asking the venue;
2. orders still working at the venue (`submitted`, `partially_filled`) are looked up, so fills that
   happened between cycles are recorded (each fill once, by its venue fill id) and the status
   follows the venue;
3. the venue's positions are compared with what the ledger holds across the live strategies on
   that venue sharing the account (those of the same owner: each owner trades on their own
   account, trading/venue_accounts.py): where the venue holds less than the ledger, the difference
   is reported on every cycle until a person resolves it. The ledger is never edited to match: only
   fills move positions, so every change keeps its audit trail.

`execution_orders_recover` handles the orders of a cycle whose worker died (killed, restarted,
out of memory) between creating an order and recording the venue's answer.

What this needs to know about strategies comes from its callers as plain values: the owner whose
account a strategy trades on, the executions still running, and `resend` (may this order be sent
again now: strategies/cycle/reconciliation.py, which is also where the strategies side calls this module).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from trading.models import Book, Order, OrderAction, OrderStatus, Position
from trading.orders import Resend, order_refresh, order_status_from_fills, order_transition
from trading.selectors import WORKING
from trading.venues import VenueClient, VenueError
from trading.venues.domain import VenuePosition
from trading.venues.platforms import traits

logger = logging.getLogger(__name__)

Holding = tuple[str, str]  # market id, side ("" where the venue has one position per instrument)
Note = Callable[[str, str], None]  # level, message
Key = TypeVar("Key", bound=Hashable)
NOTE_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING}  # a note's level in the worker's log (else info)


@dataclass
class Reconciliation:
    settled: list[str] = field(default_factory=list)  # client order ids whose status changed
    still_unresolved: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # orders that could not be settled (noted, left as they are)
    mismatches: list[str] = field(default_factory=list)


@contextmanager
def venue_clients(factory: Callable[[Key], VenueClient]) -> Iterator[Callable[[Key], VenueClient]]:
    """One client per key (a venue, or an owner and a venue), built on first use, all closed at the end."""
    clients: dict[Key, VenueClient] = {}

    def client_for(key: Key) -> VenueClient:
        if key not in clients:
            clients[key] = factory(key)
        return clients[key]

    try:
        yield client_for
    finally:
        for client in clients.values():
            client.close()


def holding_key(venue: str, market_id: str, side: str) -> Holding:
    """Kalshi keeps YES and NO of one ticker apart; a Polymarket token or an Alpaca symbol is one holding."""
    return (market_id, side) if traits(venue).outcomes_share_a_ticker else (market_id, "")


def venue_holdings(venue: str, positions: list[VenuePosition]) -> dict[Holding, Decimal]:
    held: dict[Holding, Decimal] = defaultdict(Decimal)
    for position in positions:
        side = ("yes" if position.quantity > 0 else "no") if traits(venue).outcomes_share_a_ticker else ""
        held[(position.instrument_id, side)] += abs(position.quantity)
    return held


def ledger_holdings(venue: str, *, owner_id: int) -> dict[Holding, Decimal]:
    """What the owner's live strategies on this venue (one account) hold, by venue holding."""
    held: dict[Holding, Decimal] = defaultdict(Decimal)
    rows = Position.objects.filter(book=Book.LIVE, venue=venue, status=Position.Status.OPEN,
                                   strategy__owner_id=owner_id).values_list("market_id", "side", "quantity")
    for market_id, side, quantity in rows:
        held[holding_key(venue, market_id, side)] += quantity
    return held


def exits_working(position: Position, *, excluding: int | None = None) -> Decimal:
    """What exits of this position still working or unresolved may yet sell: their unfilled rest."""
    exits = Order.objects.filter(strategy_id=position.strategy_id, book=position.book, venue=position.venue,
                                 market_id=position.market_id, side=position.side, action=OrderAction.CLOSE,
                                 status__in=WORKING)
    if excluding is not None:
        exits = exits.exclude(pk=excluding)
    rest = Decimal(0)
    for quantity, filled in exits.values_list("quantity", "filled_quantity"):
        rest += quantity - filled
    return rest


def live_reconcile(*, strategy_id: int, owner_id: int, venue: str, client: VenueClient, note: Note,
                   running: Iterable[int], resend: Resend) -> Reconciliation:
    """Orders, fills, then positions of one live strategy (of `owner_id`'s account), against the venue.
    Never raises. The orders of `running` executions are left alone: a cycle still running owns them.

    Each order is settled on its own: one that fails (the venue, or a fill the ledger cannot apply)
    is noted and left as it is, and the others are settled all the same.
    """
    result = Reconciliation()
    working = (Order.objects.filter(strategy_id=strategy_id, book=Book.LIVE, status__in=(
        OrderStatus.UNRESOLVED, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED))
        .exclude(execution_id__in=running)  # a cycle still running owns its orders
        .order_by("id"))
    for order in working:
        before = (order.status, order.filled_quantity)
        try:
            order_refresh(order, client, resend=resend)
        except VenueError as error:
            note("warning", f"reconcile: order {order.client_order_id} could not be checked with {venue}: {error}")
        except Exception as error:  # one bad order never stops the others: said every cycle until resolved
            logger.exception("reconcile: order %s could not be settled", order.client_order_id)
            order.refresh_from_db()
            note("error", f"reconcile: order {order.client_order_id} could not be settled: {error}; "
                          "a person must resolve this")
            result.failed.append(order.client_order_id)
            continue
        if order.status == OrderStatus.UNRESOLVED:
            result.still_unresolved.append(order.client_order_id)
            why = order.reject_reason.partition("not re-sent: ")[2]
            note("warning", f"reconcile: order {order.client_order_id} is still unresolved"
                            + (f"; the venue has no such order and it is not re-sent: {why}" if why else "")
                            + "; asked again next cycle")
        elif (order.status, order.filled_quantity) != before:
            result.settled.append(order.client_order_id)
            note("info", f"reconcile: order {order.client_order_id} was {before[0]}; the venue says {order.status}, "
                         f"filled {order.filled_quantity.normalize():f} of {order.quantity.normalize():f}")
    try:
        positions_compare(strategy_id=strategy_id, owner_id=owner_id, venue=venue, client=client, note=note,
                          result=result)
    except VenueError as error:
        note("warning", f"reconcile: could not read positions from {venue}: {error}")
    return result


def positions_compare(*, strategy_id: int, owner_id: int, venue: str, client: VenueClient, note: Note,
                      result: Reconciliation) -> None:
    """The venue's holdings against the ledger's, both ways, for what this strategy holds or has traded.

    The owner's live strategies on the venue share one account, so the ledger side is summed over all of them.
    """
    traded = set(Order.objects.filter(strategy_id=strategy_id, book=Book.LIVE, venue=venue)
                 .exclude(action=OrderAction.SETTLE).values_list("market_id", "side").distinct())
    mine = {holding_key(venue, market_id, side): (market_id, side) for market_id, side in traded}
    if not mine:
        return
    at_venue = venue_holdings(venue, client.get_positions())
    in_ledger = ledger_holdings(venue, owner_id=owner_id)
    for key, (market_id, side) in sorted(mine.items()):
        venue_has, ledger_has = at_venue.get(key, Decimal(0)), in_ledger.get(key, Decimal(0))
        if venue_has == ledger_has:
            continue
        more_or_less = "more" if venue_has > ledger_has else "less"
        message = (f"reconcile: {venue} holds {venue_has.normalize():f} of {market_id} {side}, the ledger "
                   f"{ledger_has.normalize():f} across live strategies: the venue holds {more_or_less}; a person "
                   "must resolve this")
        result.mismatches.append(message)
        note("warning", message)


def execution_orders_recover(execution_id: int, *, client_factory: Callable[[str], VenueClient],
                             resend: Resend) -> list[str]:
    """Settle the orders of a cycle whose worker was lost. Returns what was done, a line per order.

    An order still `new` was never sent: rejected. A paper order keeps the fills it recorded and the
    rest is cancelled (paper orders are immediate-or-cancel). A live order that was `submitted`
    without a recorded answer may or may not be at the venue: it becomes unresolved and is settled
    by asking the venue (same client order id, same signed order), never placed as a new one.
    """
    lines: list[str] = []
    with venue_clients(client_factory) as client_for:
        for order in Order.objects.filter(execution_id=execution_id, status__in=(
                OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)).order_by("id"):
            if order.status == OrderStatus.NEW:
                order_transition(order, OrderStatus.REJECTED, reason="not sent: the worker was lost before sending it")
            elif order.book == Book.PAPER:
                order_transition(order, order_status_from_fills(order))
                if order.status != OrderStatus.FILLED:
                    order_transition(order, OrderStatus.CANCELLED)
            else:
                order_transition(order, OrderStatus.UNRESOLVED)  # whatever was recorded, the rest is unknown
                try:
                    order_refresh(order, client_for(order.venue), resend=resend)
                except Exception as error:  # the venue, or a fill the ledger cannot apply: the others go on
                    logger.warning("order %s stays unresolved: %s", order.client_order_id, error)
                    order.refresh_from_db()
                    lines.append(f"order {order.client_order_id} could not be settled: {error}")
            lines.append(f"order {order.client_order_id} ({order.book}) recovered after the worker was lost: "
                         f"{order.status}, filled {order.filled_quantity.normalize():f} of "
                         f"{order.quantity.normalize():f}")
    return lines


def live_reconcile_all(*, client_factory: Callable[[int, str], VenueClient], running: Iterable[int],
                       resend: Resend) -> dict[int, Reconciliation]:
    """Every live strategy with working orders or open positions (when a worker starts), each against its
    owner's account (`client_factory(owner_id, venue)`). Logged, not raised."""
    working = (OrderStatus.UNRESOLVED, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
    fields = ("strategy_id", "strategy__owner_id", "venue")
    found = set(Order.objects.filter(book=Book.LIVE, status__in=working).values_list(*fields))
    found |= set(Position.objects.filter(book=Book.LIVE, status=Position.Status.OPEN).values_list(*fields))
    results: dict[int, Reconciliation] = {}
    def build(key: tuple[int, str]) -> VenueClient:
        return client_factory(*key)

    with venue_clients(build) as client_for:
        for strategy_id, owner_id, venue in sorted(found):
            def note(level: str, message: str, strategy_id: int = strategy_id) -> None:
                logger.log(NOTE_LEVELS.get(level, logging.INFO), "strategy %s: %s", strategy_id, message)

            try:
                client = client_for((owner_id, venue))
            except Exception as error:  # no account or credentials for this venue: say so, go on
                logger.error("reconcile: no %s client for strategy %s: %s", venue, strategy_id, error)
                continue
            try:
                results[strategy_id] = live_reconcile(strategy_id=strategy_id, owner_id=owner_id, venue=venue,
                                                      client=client, note=note, running=running, resend=resend)
            except Exception:  # the ledger itself failed for this strategy: the others are reconciled all the same
                logger.exception("reconcile: strategy %s could not be reconciled", strategy_id)
    return results
