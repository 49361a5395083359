"""Reads the API answers with that no other door needs: performance per book and version diffs."""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any

from django.utils import timezone

from strategies.models import Strategy, StrategyVersion
from trading.models import Book, Position
from trading.selectors import capital_state

ZERO = Decimal(0)


def _usd(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def strategy_performance(strategy: Strategy) -> dict[str, Any]:
    """Realized and unrealized P&L, win rate, max drawdown and an equity series, for each book that has trades."""
    total = Decimal(str(strategy.config["capital"]["total_capital"]))
    now = timezone.now()
    books = []
    for book in (Book.PAPER, Book.LIVE):
        state = capital_state(strategy_id=strategy.pk, book=book, total_capital=total, now=now)
        closed = list(Position.objects.filter(strategy=strategy, book=book, status=Position.Status.CLOSED)
                      .order_by("closed_at", "id").values_list("closed_at", "realized_pnl_usd"))
        if book == Book.LIVE and not closed and state.open_positions == 0:
            continue  # no live trading yet: only the paper book is shown
        equity = peak = total
        drawdown = ZERO
        series = []
        for closed_at, pnl in closed:
            equity += pnl
            peak = max(peak, equity)
            drawdown = max(drawdown, (peak - equity) / peak if peak > 0 else Decimal(1))
            series.append({"at": closed_at, "equity_usd": _usd(equity)})
        wins = sum(1 for _, pnl in closed if pnl > 0)
        books.append({
            "book": book,
            "total_capital_usd": _usd(total),
            "realized_pnl_usd": _usd(state.realized_usd),
            "unrealized_pnl_usd": _usd(state.unrealized_usd),
            "total_pnl_usd": _usd(state.realized_usd + state.unrealized_usd),
            "pnl_today_usd": _usd(state.pnl_today_usd),
            "deployed_usd": _usd(state.deployed_usd),
            "available_usd": _usd(state.available_usd),
            "open_positions": state.open_positions,
            "closed_trades": len(closed),
            "wins": wins,
            "win_rate": f"{Decimal(wins) / len(closed):.4f}" if closed else None,
            "max_drawdown": f"{drawdown:.4f}",
            "equity": series,
        })
    return {"strategy_id": str(strategy.pk), "books": books}


def versions_diff(a: StrategyVersion, b: StrategyVersion) -> dict[str, Any]:
    """A unified diff per file that differs between two versions of one strategy."""
    old, new = a.source_files(), b.source_files()
    files = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        change = "added" if name not in old else "removed" if name not in new else "modified"
        lines = difflib.unified_diff(
            old.get(name, "").splitlines(keepends=True), new.get(name, "").splitlines(keepends=True),
            fromfile=f"a/{name}" if name in old else "/dev/null", tofile=f"b/{name}" if name in new else "/dev/null",
        )
        files.append({"filename": name, "change": change, "diff": "".join(lines)})
    return {"a": a.number, "b": b.number, "files": files}
