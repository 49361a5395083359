"""Reads the API answers with that no other door needs: performance per book and version diffs."""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from strategies.models import Execution, ExecutionAction, ExecutionLog, Strategy, StrategyVersion
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


# --- The lean read routes (api/lean.py): plain SQL, one statement each (two for a run's detail) ---------------
# Hand-written so a request pays neither the ORM's query compilation (1.2 ms for a 0.13 ms query, issue 22) nor a
# model instance per row; scoped to the owner, archived strategies left out, as strategies_for_user.

def _tables() -> dict[str, str]:
    return {"strategy": Strategy._meta.db_table, "version": StrategyVersion._meta.db_table,
            "execution": Execution._meta.db_table, "log": ExecutionLog._meta.db_table,
            "action": ExecutionAction._meta.db_table}


STRATEGY_COLUMNS = ("id", "name", "description", "thesis", "platform", "status", "mode", "enabled", "paused_reason",
                    "polling_interval", "next_run_at", "runs_total", "runs_succeeded", "runs_failed", "created_at",
                    "updated_at")
EXECUTION_COLUMNS = ("id", "strategy_id", "trigger", "mode", "status", "scheduled_for", "started_at", "finished_at",
                     "entries", "exits", "error")


def strategy_rows_page(*, owner_id: int, filters: dict[str, str], limit: int, offset: int
                       ) -> tuple[int | None, list[dict[str, Any]]]:
    """One page of the owner's strategies (by name, then id) as STRATEGY_VALUES rows, with the count of all that
    match (None when the page is past the end: the count comes with each row)."""
    t = _tables()
    where = "".join(f" AND s.{column} = %s" for column in filters)  # columns from a fixed set (api/lean.py)
    # Only our own table and column names are formatted into these statements; every value is a parameter.
    sql = (f"SELECT {', '.join(f's.{c}' for c in STRATEGY_COLUMNS)}, v.number, r.number, count(*) OVER () "  # noqa: S608
           f"FROM {t['strategy']} s LEFT JOIN {t['version']} v ON v.id = s.current_version_id "
           f"LEFT JOIN {t['version']} r ON r.id = s.running_version_id "
           f"WHERE s.owner_id = %s AND s.status <> %s{where} ORDER BY s.name, s.id LIMIT %s OFFSET %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [owner_id, Strategy.Status.ARCHIVED, *filters.values(), limit, offset])
        rows = cursor.fetchall()
    names = (*STRATEGY_COLUMNS, "current_version__number", "running_version__number")
    return (rows[0][-1] if rows else None), [dict(zip(names, row[:-1], strict=True)) for row in rows]


def execution_rows(*, owner_id: int, strategy_id: int | None = None, execution_id: int | None = None,
                   filters: dict[str, str] | None = None, before: int | None = None, after: int | None = None,
                   limit: int = 1, with_state: bool = False) -> list[dict[str, Any]]:
    """Runs of the owner's (not archived) strategies as ExecutionSummarySerializer reads them: one run by id, or a
    strategy's runs newest first (`before` an id, or oldest first `after` one), at most `limit`."""
    t = _tables()
    clauses = ["s.owner_id = %s", "s.status <> %s"]
    params: list[Any] = [owner_id, Strategy.Status.ARCHIVED]
    for column, value in [("e.id", execution_id), ("e.strategy_id", strategy_id),
                          *((f"e.{c}", v) for c, v in (filters or {}).items())]:
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if before is not None:
        clauses.append("e.id < %s")
        params.append(before)
    if after is not None:
        clauses.append("e.id > %s")
        params.append(after)
    columns = [f"e.{c}" for c in EXECUTION_COLUMNS] + ["v.number"] + (["e.state_after"] if with_state else [])
    sql = (f"SELECT {', '.join(columns)} FROM {t['execution']} e "  # noqa: S608
           f"JOIN {t['strategy']} s ON s.id = e.strategy_id "
           f"JOIN {t['version']} v ON v.id = e.version_id WHERE {' AND '.join(clauses)} "
           f"ORDER BY e.id {'ASC' if after is not None else 'DESC'} LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        rows = cursor.fetchall()
    names = (*EXECUTION_COLUMNS, "version", *(("state_after",) if with_state else ()))
    return [dict(zip(names, row, strict=True)) for row in rows]


def execution_lines(execution_id: int) -> list[tuple[int, int, Any, str, str, Any]]:
    """A run's log lines (0, seq, ts, level, message, None) then its actions (1, seq, ts, kind, message, payload
    as JSON text), each by seq: one statement."""
    t = _tables()
    sql = (f"SELECT 0, seq, ts, level, message, NULL::jsonb FROM {t['log']} WHERE execution_id = %s "  # noqa: S608
           f"UNION ALL SELECT 1, seq, ts, kind, message, payload FROM {t['action']} WHERE execution_id = %s "
           "ORDER BY 1, 2")
    with connection.cursor() as cursor:
        cursor.execute(sql, [execution_id, execution_id])
        return list(cursor.fetchall())
