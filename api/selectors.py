"""Reads the API answers with that no other door needs: performance per book and version diffs."""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any

from django.utils import timezone

from strategies.models import Strategy, StrategyVersion
from trading.models import Book
from trading.performance import book_record
from trading.selectors import book_trades, capital_state

ZERO = Decimal(0)


def _usd(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def strategy_performance(strategy: Strategy) -> dict[str, Any]:
    """Realized and unrealized P&L, win rate, max drawdown and the equity curve for each book that has trades:
    every version's record, marked to market (`trading.performance`, as the dashboard and graduation read it)."""
    total = Decimal(str(strategy.config["capital"]["total_capital"]))
    now = timezone.now()
    books = []
    for book in (Book.PAPER, Book.LIVE):
        trades = book_trades(strategy_id=strategy.pk, book=book)
        if book == Book.LIVE and not trades:
            continue  # no live trading yet: only the paper book is shown
        state = capital_state(strategy_id=strategy.pk, book=book, total_capital=total, now=now)
        record = book_record(trades, total_capital=total, start=strategy.created_at, now=now)
        books.append({
            "book": book,
            "total_capital_usd": _usd(total),
            "realized_pnl_usd": _usd(record.realized_usd),
            "unrealized_pnl_usd": _usd(record.unrealized_usd),
            "total_pnl_usd": _usd(record.pnl_usd),
            "equity_usd": _usd(record.equity_usd),
            "pnl_today_usd": _usd(state.pnl_today_usd),
            "deployed_usd": _usd(state.deployed_usd),
            "available_usd": _usd(state.available_usd),
            "open_positions": state.open_positions,
            "closed_trades": record.closed_trades,
            "wins": record.wins,
            "win_rate": None if record.win_rate is None else f"{record.win_rate:.4f}",
            "max_drawdown": f"{record.max_drawdown:.4f}",
            "equity": [{"at": point.at, "equity_usd": _usd(point.equity_usd)} for point in record.equity[1:]],
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
