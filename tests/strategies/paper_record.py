"""Paper trades written through the ledger (orders and fills), as a cycle would, for graduation tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from strategies.models import Execution, StrategyVersion
from trading.models import Book, Order, OrderAction, OrderStatus, Position
from trading.orders import fill_record, order_transition

QUANTITY = Decimal(1000)
ENTRY_PRICE = Decimal("0.50")  # 1000 contracts cost $500: a trade's P&L moves the exit price by P&L / 1000


def paper_trades(version: StrategyVersion, pnls: list[str], *, open_marks: tuple[str, ...] = ()) -> list[Position]:
    """One closed paper trade per P&L in `pnls` (in that order), then one open position per mark in
    `open_marks` (1000 contracts bought at 0.50, marked at that price). All opened by `version`'s orders."""
    now = timezone.now()
    execution = Execution.objects.create(
        strategy=version.strategy, version=version, trigger=Execution.Trigger.MANUAL, mode="paper",
        status=Execution.Status.SUCCEEDED, scheduled_for=now, started_at=now, finished_at=now)
    existing = Position.objects.filter(strategy=version.strategy).count()
    positions = []
    trades: list[tuple[str | None, str | None]] = [(p, None) for p in pnls] + [(None, m) for m in open_marks]
    for number, (pnl, mark) in enumerate(trades):
        at = now + timedelta(seconds=number)
        market = f"M{existing + number}"
        _order(execution, number, OrderAction.OPEN, market, ENTRY_PRICE, at)
        position = Position.objects.get(strategy=version.strategy, market_id=market)
        if pnl is not None:
            _order(execution, number, OrderAction.CLOSE, market, ENTRY_PRICE + Decimal(pnl) / QUANTITY,
                   at + timedelta(milliseconds=500))
        else:
            Position.objects.filter(pk=position.pk).update(current_price=Decimal(str(mark)))
        position.refresh_from_db()
        positions.append(position)
    return positions


def _order(execution: Execution, index: int, action: str, market: str, price: Decimal, at: datetime) -> None:
    order = Order.objects.create(
        strategy=execution.strategy, version=execution.version, execution=execution, signal_index=index,
        book=Book.PAPER, venue="kalshi", market_id=market, side="yes", action=action,
        client_order_id=f"sh-{execution.strategy_id}-{execution.pk}-{index}-{action[0]}", quantity=QUANTITY,
        limit_price=max(price, Decimal("0.01")), notional_usd=QUANTITY * max(price, Decimal("0.01")))
    order_transition(order, OrderStatus.SUBMITTED)
    fill_record(order, venue_fill_id="paper-1", quantity=QUANTITY, price=price, fee=Decimal(0), at=at)
    order.refresh_from_db()
    order_transition(order, OrderStatus.FILLED)
