"""Reads of the money ledger: the exposures the limits are checked against, derived from orders, fills
and positions.

Nothing here is a counter: every number is summed or replayed from the rows that record what
happened, so it cannot drift from them. The arithmetic on those numbers (what a working order
reserves, today's P&L) is the capital engine's (`trading.capital`): this module only gathers them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Sum

from trading.capital import (
    Exposures,
    Key,
    Lot,
    MarketDay,
    WorkingEntry,
    held_value,
    lot_buy,
    lot_sell,
    market_day,
    reserved_by_key,
)
from trading.models import Fill, Order, OrderAction, OrderStatus, Position
from trading.performance import Trade, unrealized

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


def fills_replay(*, strategy_id: int, book: str, keys: set[Key] | None = None,
                 before: datetime | None = None) -> tuple[dict[Key, Lot], list[RealizedEvent]]:
    """Replay every fill (of `keys` only, when given; filled before `before`, when given) in order, at
    average cost: the open lots and the P&L each sale realized."""
    lots: dict[Key, Lot] = defaultdict(Lot)
    realized: list[RealizedEvent] = []
    fills = Fill.objects.filter(order__strategy_id=strategy_id, book=book)
    if before is not None:
        fills = fills.filter(filled_at__lt=before)
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


def capital_state(*, strategy_id: int, book: str, total_capital: Decimal, now: datetime,
                  marks: Mapping[int, Decimal] | None = None) -> Exposures:
    """The exposures every limit is checked against: open positions, every entry that may still fill
    (whatever day it was placed), today's entry fills, and today's P&L from the day's first marks.

    `marks` (position id → price) replaces the stored marks: a dry run keeps its marks in memory.
    """
    if ledger_empty(strategy_id=strategy_id, book=book):  # most cycles of most strategies: one query, not six
        return Exposures(total_capital=total_capital)
    midnight = utc_midnight(now)
    marks = marks or {}
    positions = Position.objects.filter(strategy_id=strategy_id, book=book)
    realized = positions.aggregate(realized=Sum("realized_pnl_usd"))["realized"] or ZERO
    open_rows = list(positions.filter(status=Position.Status.OPEN).values_list(
        "pk", "venue", "market_id", "side", "quantity", "cost_basis_usd", "current_price"))
    working = [
        WorkingEntry((venue, market_id, side), quantity - filled, limit if limit is not None else notional / quantity)
        for venue, market_id, side, quantity, filled, limit, notional in
        Order.objects.filter(strategy_id=strategy_id, book=book, action=OrderAction.OPEN, status__in=WORKING)
        .values_list("venue", "market_id", "side", "quantity", "filled_quantity", "limit_price", "notional_usd")
    ]
    days = _market_days(strategy_id=strategy_id, book=book, midnight=midnight, open_rows=open_rows, marks=marks)
    return Exposures(
        total_capital=total_capital,
        realized_usd=realized,
        positions={(venue, market_id, side): cost for _, venue, market_id, side, _, cost, _ in open_rows},
        reserved=reserved_by_key(entry for entry in working if entry.remaining > 0),
        filled_today_usd=sum((day.paid_today_usd for day in days), ZERO),
        unrealized_usd=sum((unrealized(quantity=quantity, price=marks.get(pk, price), cost_usd=cost)
                            for pk, _, _, _, quantity, cost, price in open_rows), ZERO),
        days=days,
    )


OpenRow = tuple[int, str, str, str, Decimal, Decimal, Decimal | None]  # pk, venue, market, side, qty, cost, mark


def _market_days(*, strategy_id: int, book: str, midnight: datetime, open_rows: list[OpenRow],
                 marks: Mapping[int, Decimal]) -> tuple[MarketDay, ...]:
    """Each market side held or traded today: its value at 00:00 UTC and now, and today's fills' cash.

    Where each starts is `capital.market_day`'s rule; this gathers the quantities, marks and cash it needs
    (replaying fills to midnight only for a side held over midnight and never marked today).
    """
    now_held: dict[Key, tuple[Decimal, Decimal]] = {}  # quantity, value now
    for pk, venue, market_id, side, quantity, cost, price in open_rows:
        now_held[(venue, market_id, side)] = (
            quantity, held_value(quantity=quantity, price=marks.get(pk, price), cost_usd=cost))
    today: dict[Key, list[Decimal]] = {}  # quantity bought net of sold, paid, received
    for venue, market_id, side, action, quantity, price, fee in (
            Fill.objects.filter(order__strategy_id=strategy_id, book=book, filled_at__gte=midnight)
            .values_list("order__venue", "order__market_id", "order__side", "order__action", "quantity", "price",
                         "fee_usd")):
        flows = today.setdefault((venue, market_id, side), [ZERO, ZERO, ZERO])
        if action == OrderAction.OPEN:
            flows[0] += quantity
            flows[1] += quantity * price + fee
        else:
            flows[0] -= quantity
            flows[2] += quantity * price - fee
    day_start = {
        (venue, market_id, side): price for venue, market_id, side, price in
        Position.objects.filter(strategy_id=strategy_id, book=book, opened_at__lt=midnight,
                                day_start_on=midnight.date(), day_start_price__isnull=False)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=midnight))
        .values_list("venue", "market_id", "side", "day_start_price")
    }
    keys = now_held.keys() | today.keys()
    none = (ZERO, ZERO)
    held_at_midnight = {key: now_held.get(key, none)[0] - today.get(key, [ZERO])[0] for key in keys}
    unmarked = {key for key, quantity in held_at_midnight.items() if quantity > 0 and key not in day_start}
    cost_at_midnight: dict[Key, Lot] = {}
    if unmarked:
        cost_at_midnight, _ = fills_replay(strategy_id=strategy_id, book=book, keys=unmarked, before=midnight)
    days: list[MarketDay] = []
    for key in sorted(keys):
        _, paid, received = today.get(key, [ZERO, ZERO, ZERO])
        days.append(market_day(quantity_at_midnight=held_at_midnight[key], day_start_price=day_start.get(key),
                               cost_at_midnight=cost_at_midnight.get(key, Lot()).cost_usd,
                               value_now_usd=now_held.get(key, none)[1], paid_today_usd=paid,
                               received_today_usd=received))
    return tuple(days)


def position_for_entry(*, strategy_id: int, book: str, venue: str, market_id: str, side: str) -> Position | None:
    return Position.objects.filter(strategy_id=strategy_id, book=book, venue=venue, market_id=market_id, side=side,
                                   status=Position.Status.OPEN).first()


def book_trades(*, strategy_id: int, book: str, version_id: int | None = None) -> list[Trade]:
    """Every position of the book as a `Trade` of the record (`trading.performance`), marked to market, with the
    average price its opening fills paid; only the positions a `version_id`'s orders opened, when given. Two
    queries."""
    positions = Position.objects.filter(strategy_id=strategy_id, book=book)
    entries = Fill.objects.filter(order__strategy_id=strategy_id, book=book, order__action=OrderAction.OPEN)
    if version_id is not None:
        opened_by_version = entries.filter(
            order__version_id=version_id, order__venue=OuterRef("venue"), order__market_id=OuterRef("market_id"),
            order__side=OuterRef("side"), filled_at=OuterRef("opened_at"))
        positions = positions.filter(Exists(opened_by_version))
    rows = list(positions.order_by("opened_at", "id").values_list(
        "venue", "market_id", "side", "status", "quantity", "cost_basis_usd", "current_price", "realized_pnl_usd",
        "opened_at", "closed_at"))
    # A position's opening fills are its market side's entry fills from its opening to its close: one position
    # per market side is open at a time.
    paid: dict[Key, list[tuple[datetime, Decimal, Decimal]]] = defaultdict(list)
    for venue, market_id, side, at, quantity, price in entries.values_list(
            "order__venue", "order__market_id", "order__side", "filled_at", "quantity", "price"):
        paid[(venue, market_id, side)].append((at, quantity, price))
    trades = []
    for venue, market_id, side, status, quantity, cost, mark, realized, opened_at, closed_at in rows:
        bought = [(q, p) for at, q, p in paid[(venue, market_id, side)]
                  if at >= opened_at and (closed_at is None or at <= closed_at)]
        units = sum((q for q, _ in bought), ZERO)
        entry_price = sum((q * p for q, p in bought), ZERO) / units if units > 0 else None
        held = status == Position.Status.OPEN
        trades.append(Trade(
            opened_at=opened_at, closed_at=None if held else closed_at, realized_usd=realized,
            unrealized_usd=unrealized(quantity=quantity, price=mark, cost_usd=cost) if held else ZERO,
            entry_price=entry_price))
    return trades


def pnl_by_strategy(*, books: Mapping[int, str]) -> dict[int, Decimal]:
    """Each strategy's P&L on one book (`books`: strategy id → book), realized plus unrealized at the current
    marks: `trading.performance`'s definition for many strategies at once (the dashboard's cards). Two queries."""
    pnl = dict.fromkeys(books, ZERO)
    if not books:
        return pnl
    positions = Position.objects.filter(strategy_id__in=list(books))
    realized_rows = (positions.values("strategy_id", "book").annotate(realized=Sum("realized_pnl_usd"))
                     .values_list("strategy_id", "book", "realized"))
    for strategy_id, book, realized in realized_rows:
        if books[strategy_id] == book:
            pnl[strategy_id] += realized or ZERO
    for strategy_id, book, quantity, cost, mark in (positions.filter(status=Position.Status.OPEN)
                                                    .values_list("strategy_id", "book", "quantity", "cost_basis_usd",
                                                                 "current_price")):
        if books[strategy_id] == book:
            pnl[strategy_id] += unrealized(quantity=quantity, price=mark, cost_usd=cost)
    return pnl
