"""Reads for strategies, scoped to the user who asks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, QuerySet

from strategies.models import Strategy, StrategyVersion

if TYPE_CHECKING:
    from trading.models import Position

GRADUATION_MIN_TRADES = 20
GRADUATION_MIN_WIN_RATE = Decimal("0.55")
GRADUATION_MAX_DRAWDOWN = Decimal("0.20")


def strategies_for_user(user: User) -> QuerySet[Strategy]:
    return Strategy.objects.filter(owner=user).exclude(status=Strategy.Status.ARCHIVED).order_by("name", "id")


@dataclass(frozen=True)
class GraduationCheck:
    name: str
    required: str
    actual: str
    passed: bool

    def describe(self) -> str:
        return f"{self.name}: {self.actual} (needs {self.required})"


@dataclass(frozen=True)
class Graduation:
    checks: list[GraduationCheck]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def strategy_graduation(strategy: Strategy, *, version: StrategyVersion | None = None) -> Graduation:
    """The paper → live checklist of the design (§5) for one version (the current one by default).

    Only this version's paper record counts: positions opened by its orders. Open positions count
    marked to market, so a strategy cannot graduate by never closing its losers: an open position
    at a loss is a loss in the win rate, its unrealized P&L is in the P&L, and the equity curve
    ends at today's marks. Drawdown is measured on this version's `capital.total_capital`.
    """
    from trading.models import Book, Fill, OrderAction, Position

    version = version or strategy.current_version
    if version is None:
        return Graduation(checks=_graduation_checks(0, 0, 0, Decimal(0), Decimal(0)))
    opened_by_version = Fill.objects.filter(
        order__strategy_id=strategy.pk, order__version_id=version.pk, order__book=Book.PAPER,
        order__action=OrderAction.OPEN, order__venue=OuterRef("venue"), order__market_id=OuterRef("market_id"),
        order__side=OuterRef("side"), filled_at=OuterRef("opened_at"))
    positions = list(
        Position.objects.filter(strategy_id=strategy.pk, book=Book.PAPER)
        .filter(Exists(opened_by_version))
        .order_by("closed_at", "opened_at", "id")
    )
    closed = [p.realized_pnl_usd for p in positions if p.status == Position.Status.CLOSED]
    open_pnl = [p.realized_pnl_usd + _unrealized(p) for p in positions if p.status == Position.Status.OPEN]
    wins = sum(1 for pnl in closed if pnl > 0)
    open_losers = sum(1 for pnl in open_pnl if pnl < 0)
    counted = len(closed) + open_losers  # an open winner is not a win until it is closed
    total_pnl = sum(closed, Decimal(0)) + sum(open_pnl, Decimal(0))
    capital = Decimal(str(version.config["capital"]["total_capital"]))
    equity = peak = capital
    drawdown = Decimal(0)
    for pnl in [*closed, sum(open_pnl, Decimal(0))]:  # the curve ends at today's marks
        equity += pnl
        peak = max(peak, equity)
        drawdown = max(drawdown, (peak - equity) / peak if peak > 0 else Decimal(1))
    return Graduation(checks=_graduation_checks(len(closed), counted, wins, total_pnl, drawdown))


def _unrealized(position: Position) -> Decimal:
    """Marked to market; a position never marked is counted as worth nothing."""
    price: Decimal = position.current_price if position.current_price is not None else Decimal(0)
    unrealized: Decimal = price * position.quantity - position.cost_basis_usd
    return unrealized


def _graduation_checks(trades: int, counted: int, wins: int, total_pnl: Decimal,
                       drawdown: Decimal) -> list[GraduationCheck]:
    win_rate = Decimal(wins) / counted if counted else Decimal(0)
    return [
        GraduationCheck(
            "closed paper trades", f"≥ {GRADUATION_MIN_TRADES}", str(trades), trades >= GRADUATION_MIN_TRADES
        ),
        GraduationCheck(
            "win rate",
            f"> {GRADUATION_MIN_WIN_RATE:.0%}",
            f"{win_rate:.1%}",
            counted > 0 and win_rate > GRADUATION_MIN_WIN_RATE,
        ),
        GraduationCheck("paper P&L", "> $0", f"${total_pnl:.2f}", total_pnl > 0),
        GraduationCheck(
            "max drawdown",
            f"< {GRADUATION_MAX_DRAWDOWN:.0%}",
            f"{drawdown:.1%}",
            drawdown < GRADUATION_MAX_DRAWDOWN,
        ),
    ]
