"""Reads of the money ledger: capital, P&L and today's spend, derived from orders, fills and positions.

Nothing here is a counter: every number is summed or replayed from the rows that record what
happened, so it cannot drift from them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Sum

from trading.capital import Lot, lot_buy, lot_sell
from trading.models import Fill, Order, OrderAction, OrderStatus, Position

ZERO = Decimal(0)
WORKING = (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNRESOLVED)


def utc_midnight(now: datetime) -> datetime:
    """Start of `now`'s UTC day; daily limits reset here."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def positions_open(*, strategy_id: int, book: str) -> list[Position]:
    return list(Position.objects.filter(strategy_id=strategy_id, book=book, status=Position.Status.OPEN)
                .order_by("opened_at", "id"))


@dataclass(frozen=True)
class RealizedEvent:
    at: datetime
    venue: str
    market_id: str
    side: str
    realized_usd: Decimal


Key = tuple[str, str, str]  # venue, market id, side: one position's fills


def fills_replay(*, strategy_id: int, book: str,
                 keys: set[Key] | None = None) -> tuple[dict[Key, Lot], list[RealizedEvent]]:
    """Replay every fill (of `keys` only, when given) in order, at average cost: the open lots and
    the P&L each sale realized."""
    lots: dict[Key, Lot] = defaultdict(Lot)
    realized: list[RealizedEvent] = []
    fills = Fill.objects.filter(order__strategy_id=strategy_id, book=book)
    if keys is not None:
        fills = fills.filter(order__market_id__in={market_id for _, market_id, _ in keys})
    rows = (fills.order_by("filled_at", "id")
            .values_list("order__venue", "order__market_id", "order__side", "order__action", "quantity", "price",
                         "fee_usd", "filled_at"))
    for venue, market_id, side, action, quantity, price, fee, at in rows:
        key = (venue, market_id, side)
        if keys is not None and key not in keys:
            continue
        if action == OrderAction.OPEN:
            lots[key] = lot_buy(lots[key], quantity=quantity, price=price, fee=fee)
        else:
            lots[key], pnl = lot_sell(lots[key], quantity=quantity, price=price, fee=fee)
            realized.append(RealizedEvent(at, venue, market_id, side, pnl))
    return {key: lot for key, lot in lots.items() if lot.quantity > 0}, realized


@dataclass(frozen=True)
class CapitalState:
    """One strategy's money on one book. capital = available + deployed, always."""

    total_capital: Decimal  # the configured allocation
    realized_usd: Decimal  # all closed P&L to date, fees included
    deployed_usd: Decimal  # cost basis of open positions, fees included
    unrealized_usd: Decimal  # open positions marked to market
    realized_today_usd: Decimal
    spent_today_usd: Decimal
    open_positions: int

    @property
    def capital_usd(self) -> Decimal:
        return self.total_capital + self.realized_usd

    @property
    def available_usd(self) -> Decimal:
        return self.capital_usd - self.deployed_usd

    @property
    def pnl_today_usd(self) -> Decimal:
        return self.realized_today_usd + self.unrealized_usd


LEDGER_EXISTS_SQL = (
    "SELECT EXISTS (SELECT 1 FROM trading_position WHERE strategy_id = %s AND book = %s) "
    "OR EXISTS (SELECT 1 FROM trading_order WHERE strategy_id = %s AND book = %s)"
)


def ledger_empty(*, strategy_id: int, book: str) -> bool:
    """No position and no order on this book, hence no fill either (a fill belongs to an order): one query.

    Plain SQL: it runs at the start of every cycle, and the ORM's EXISTS-or-EXISTS costs more to build than to run.
    """
    with connection.cursor() as cursor:
        cursor.execute(LEDGER_EXISTS_SQL, [strategy_id, book, strategy_id, book])
        row = cursor.fetchone()
    return not (row and row[0])


def capital_state(*, strategy_id: int, book: str, total_capital: Decimal, now: datetime) -> CapitalState:
    if ledger_empty(strategy_id=strategy_id, book=book):  # most cycles of most strategies: one query, not six
        return CapitalState(total_capital=total_capital, realized_usd=ZERO, deployed_usd=ZERO, unrealized_usd=ZERO,
                            realized_today_usd=ZERO, spent_today_usd=ZERO, open_positions=0)
    midnight = utc_midnight(now)
    positions = Position.objects.filter(strategy_id=strategy_id, book=book)
    totals = positions.aggregate(realized=Sum("realized_pnl_usd"))
    open_rows = positions.filter(status=Position.Status.OPEN)
    open_totals = open_rows.aggregate(deployed=Sum("cost_basis_usd"), count=Count("id"))
    unrealized = sum(
        (price * quantity - cost for price, quantity, cost in
         open_rows.exclude(current_price=None).values_list("current_price", "quantity", "cost_basis_usd")),
        ZERO,
    )
    # Only positions sold from today can have realized P&L today; replay just their fills.
    sold_today: set[Key] = set(
        Fill.objects.filter(order__strategy_id=strategy_id, book=book,
                            order__action__in=(OrderAction.CLOSE, OrderAction.SETTLE),
                            filled_at__gte=midnight)
        .values_list("order__venue", "order__market_id", "order__side").distinct()
    )
    realized_today = ZERO
    if sold_today:
        _, events = fills_replay(strategy_id=strategy_id, book=book, keys=sold_today)
        realized_today = sum((event.realized_usd for event in events if event.at >= midnight), ZERO)
    return CapitalState(
        total_capital=total_capital,
        realized_usd=totals["realized"] or ZERO,
        deployed_usd=open_totals["deployed"] or ZERO,
        unrealized_usd=unrealized,
        realized_today_usd=realized_today,
        spent_today_usd=spent_today(strategy_id=strategy_id, book=book, since=midnight),
        open_positions=open_totals["count"] or 0,
    )


def spent_today(*, strategy_id: int, book: str, since: datetime) -> Decimal:
    """What entries cost since `since` (fills, fees included) plus what working entry orders may still cost."""
    filled = sum(
        (quantity * price + fee for quantity, price, fee in
         Fill.objects.filter(order__strategy_id=strategy_id, book=book, order__action=OrderAction.OPEN,
                             filled_at__gte=since).values_list("quantity", "price", "fee_usd")),
        ZERO,
    )
    working = sum(
        ((quantity - filled_quantity) * (limit or notional / quantity) for quantity, filled_quantity, limit, notional in
         Order.objects.filter(strategy_id=strategy_id, book=book, action=OrderAction.OPEN, created_at__gte=since,
                              status__in=WORKING)
         .values_list("quantity", "filled_quantity", "limit_price", "notional_usd")),
        ZERO,
    )
    return filled + working


def position_for_entry(*, strategy_id: int, book: str, venue: str, market_id: str, side: str) -> Position | None:
    return Position.objects.filter(strategy_id=strategy_id, book=book, venue=venue, market_id=market_id, side=side,
                                   status=Position.Status.OPEN).first()

