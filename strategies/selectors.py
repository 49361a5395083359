"""Reads for strategies, scoped to the user who asks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.db.models import QuerySet

from strategies.models import Strategy

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


def strategy_graduation(strategy: Strategy) -> Graduation:
    """The paper → live checklist of the design (§5), from the strategy's closed paper positions."""
    from trading.models import Book, Position

    closed = list(
        Position.objects.filter(strategy=strategy, book=Book.PAPER, status=Position.Status.CLOSED)
        .order_by("closed_at", "id")
        .values_list("realized_pnl_usd", flat=True)
    )
    trades = len(closed)
    wins = sum(1 for pnl in closed if pnl > 0)
    win_rate = Decimal(wins) / trades if trades else Decimal(0)
    total_pnl = sum(closed, Decimal(0))
    capital = Decimal(str(strategy.config["capital"]["total_capital"]))
    equity = peak = capital
    drawdown = Decimal(0)
    for pnl in closed:
        equity += pnl
        peak = max(peak, equity)
        drawdown = max(drawdown, (peak - equity) / peak if peak > 0 else Decimal(1))
    return Graduation(
        checks=[
            GraduationCheck(
                "closed paper trades", f"≥ {GRADUATION_MIN_TRADES}", str(trades), trades >= GRADUATION_MIN_TRADES
            ),
            GraduationCheck(
                "win rate",
                f"> {GRADUATION_MIN_WIN_RATE:.0%}",
                f"{win_rate:.1%}",
                trades > 0 and win_rate > GRADUATION_MIN_WIN_RATE,
            ),
            GraduationCheck("paper P&L", "> $0", f"${total_pnl:.2f}", total_pnl > 0),
            GraduationCheck(
                "max drawdown",
                f"< {GRADUATION_MAX_DRAWDOWN:.0%}",
                f"{drawdown:.1%}",
                drawdown < GRADUATION_MAX_DRAWDOWN,
            ),
        ]
    )
