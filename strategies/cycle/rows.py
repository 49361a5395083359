"""A run's rows in as few statements as the database allows: one to claim and load it, one to end it.

Every scheduled run starts with a claim and ends with its log, its result and its counters. Through
the ORM that was seven statements and more CPU to build them than Postgres needed to run them
(docs/scheduling.md, Throughput). Each is now one hand-written Postgres statement:

- `execution_claim`: the conditional UPDATE that claims a queued run RETURNING the run, its strategy
  and the strategy's current version, and whether the strategy has any ledger rows (most have none,
  and then the money layer needs no query at all);
- `execution_rows_end`: one statement whose CTEs end the run (only while it is still `running`), then
  insert the remaining log lines and actions and count it on the strategy, or write nothing at all when
  the run was already ended. A single statement is atomic by itself: no BEGIN/COMMIT trips;
- `execution_finish`, what every end of a run goes through (the worker's, recovery's): that statement, then
  the failed-run webhook.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from strategies.models import Execution, ExecutionAction, ExecutionLog, Mode, Strategy, StrategyVersion
from strategies.webhooks import webhook_execution_failed

logger = logging.getLogger(__name__)


@dataclass
class Claim:
    """A claimed run, with `execution.strategy` and `strategy.running_version` (the version cycles run) loaded."""

    execution: Execution
    ledger_empty: bool | None  # no position and no order on the run's book; None: not known


def _columns(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return list(model._meta.concrete_fields)


@cache
def _reader(model: type[models.Model]) -> Callable[[Sequence[Any]], Any]:
    """Builds an instance from a row of `_select_list(…, model)`, converting each value as the ORM does
    (a JSON field's text is decoded, for one)."""
    columns = [field.get_col(model._meta.db_table) for field in _columns(model)]
    converters = [(column, [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)])
                  for column in columns]
    names = [field.attname for field in _columns(model)]

    def read(values: Sequence[Any]) -> Any:
        converted = []
        for value, (column, field_converters) in zip(values, converters, strict=True):
            for convert in field_converters:
                value = convert(value, column, connection)
            converted.append(value)
        return model.from_db(connection.alias, names, converted)

    return read


def _select_list(alias: str, model: type[models.Model]) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in _columns(model))


_CLAIM_SQL = f"""
UPDATE strategies_execution AS e SET status = %(running)s, started_at = %(now)s, worker = %(worker)s
FROM strategies_strategy AS s LEFT JOIN strategies_strategyversion AS v ON v.id = s.running_version_id
WHERE e.id = %(id)s AND e.status = %(queued)s AND s.id = e.strategy_id
RETURNING {_select_list("e", Execution)}, {_select_list("s", Strategy)}, {_select_list("v", StrategyVersion)},
    EXISTS (SELECT 1 FROM trading_position p WHERE p.strategy_id = s.id AND p.book = %(book)s)
    OR EXISTS (SELECT 1 FROM trading_order o WHERE o.strategy_id = s.id AND o.book = %(book)s)
"""  # noqa: S608 - column names from the models, values bound. The ledger test is trading.selectors.ledger_empty's


def execution_claim(*, execution_id: int, now: datetime, worker: str) -> Claim | None:
    """Claim a queued run (a conditional update: a redelivered task finds it taken) and load what it needs."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {"running": Execution.Status.RUNNING, "queued": Execution.Status.QUEUED,
                                    "now": now, "worker": worker, "id": execution_id, "book": "paper"})
        row = cursor.fetchone()
    if row is None:
        return None
    sizes = [len(_columns(model)) for model in (Execution, Strategy, StrategyVersion)]
    execution_values = row[: sizes[0]]
    strategy_values = row[sizes[0] : sizes[0] + sizes[1]]
    version_values = row[sizes[0] + sizes[1] : sum(sizes)]
    execution: Execution = _reader(Execution)(execution_values)
    strategy: Strategy = _reader(Strategy)(strategy_values)
    version = None
    if version_values[0] is not None:
        version = _reader(StrategyVersion)(version_values)
    strategy.running_version = version
    execution.strategy = strategy
    # Only the paper book was tested; a live run reconciles with its venue whatever its ledger holds.
    return Claim(execution, ledger_empty=None if strategy.mode == Mode.LIVE else not row[-1])


_END_SQL = """
WITH ended AS (
    UPDATE strategies_execution SET status = %(status)s, error = %(error)s, finished_at = %(finished_at)s,
        entries = %(entries)s, exits = %(exits)s, state_after = %(state_after)s::jsonb
    WHERE id = %(id)s AND status = %(running)s
    RETURNING id
), new_logs AS (
    INSERT INTO strategies_executionlog (execution_id, seq, ts, level, message)
    SELECT %(id)s, t.seq, t.ts, t.level, t.message
    FROM unnest(%(log_seq)s::integer[], %(log_ts)s::timestamptz[], %(log_level)s::text[], %(log_message)s::text[])
        AS t(seq, ts, level, message)
    WHERE EXISTS (SELECT 1 FROM ended)
), new_actions AS (
    INSERT INTO strategies_executionaction (execution_id, seq, ts, kind, message, payload)
    SELECT %(id)s, t.seq, t.ts, t.kind, t.message, t.payload::jsonb
    FROM unnest(%(action_seq)s::integer[], %(action_ts)s::timestamptz[], %(action_kind)s::text[],
                %(action_message)s::text[], %(action_payload)s::text[]) AS t(seq, ts, kind, message, payload)
    WHERE EXISTS (SELECT 1 FROM ended)
)
"""
_COUNT_SQL = """
UPDATE strategies_strategy SET state = COALESCE(%(state)s::jsonb, state),
    last_cycle_ms = COALESCE(%(last_cycle_ms)s, last_cycle_ms),
    runs_total = runs_total + %(counted)s, runs_succeeded = runs_succeeded + %(succeeded)s,
    runs_failed = runs_failed + %(failed)s
WHERE id = %(strategy_id)s AND EXISTS (SELECT 1 FROM ended)
RETURNING 1
"""
_ENDED_SQL = "SELECT 1 FROM ended"


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def execution_rows_end(execution: Execution, *, logs: Sequence[ExecutionLog], actions: Sequence[ExecutionAction],
                       counted: bool, strategy_state: dict[str, Any] | None, last_cycle_ms: int | None) -> bool:
    """Write the run's remaining log lines and actions, its end (status, error, finished_at, entries,
    exits, state_after, as set on `execution`), and, when `counted`, count it on the strategy; keep
    `strategy_state` and `last_cycle_ms` (the slow lane's measure) when given. All or nothing.

    Only a run still `running` is ended: False, and nothing written, when something else ended it first
    (recovery, while this worker was cut off), since the next slot may be running by then."""
    succeeded = execution.status == Execution.Status.SUCCEEDED
    sql = _END_SQL + (_COUNT_SQL if counted or strategy_state is not None or last_cycle_ms is not None
                      else _ENDED_SQL)
    # Alone, the statement is its own transaction; inside a caller's, a savepoint keeps a failure from
    # aborting the caller's transaction (the run is then ended again, as failed).
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(sql, {
            "id": execution.pk, "strategy_id": execution.strategy_id, "running": Execution.Status.RUNNING,
            "log_seq": [line.seq for line in logs], "log_ts": [line.ts for line in logs],
            "log_level": [line.level for line in logs], "log_message": [line.message for line in logs],
            "action_seq": [action.seq for action in actions], "action_ts": [action.ts for action in actions],
            "action_kind": [action.kind for action in actions],
            "action_message": [action.message for action in actions],
            "action_payload": [json.dumps(action.payload) for action in actions],
            "status": execution.status, "error": execution.error, "finished_at": execution.finished_at,
            "entries": execution.entries, "exits": execution.exits, "state_after": _json(execution.state_after),
            "state": _json(strategy_state), "last_cycle_ms": last_cycle_ms,
            "counted": int(counted), "succeeded": int(counted and succeeded),
            "failed": int(counted and not succeeded),
        })
        return cursor.fetchone() is not None


def execution_finish(execution: Execution, *, status: str, error: str, strategy_state: dict[str, Any] | None = None,
                     logs: Sequence[ExecutionLog] = (), actions: Sequence[ExecutionAction] = (),
                     timed: bool = True, finished_at: datetime | None = None) -> bool:
    """Record how the run ended with its last log lines and actions, count it on the strategy and, when
    given, keep its new state: one statement (`execution_rows_end`), all or nothing.
    `timed`: its duration is the cycle's own (not a lost worker's), so it picks the next slot's lane.
    `finished_at`: when it ended, if the caller already said so in its last log line (now by default).

    False, with nothing written, when the run had already ended: its worker was cut off and recovery
    failed it meanwhile. `execution` then holds the end recorded before."""
    execution.status = status
    execution.error = error
    ended = finished_at or timezone.now()
    execution.finished_at = max(ended, execution.started_at or ended)
    counted = execution.trigger != Execution.Trigger.DRY_RUN and status != Execution.Status.SKIPPED
    if not execution_rows_end(execution, logs=logs, actions=actions, counted=counted, strategy_state=strategy_state,
                              last_cycle_ms=(execution.duration_ms or 0) if counted and timed else None):
        execution.refresh_from_db(fields=["status", "error", "finished_at", "entries", "exits", "state_after"])
        logger.warning("execution %s had already ended (%s) when its worker came to end it %s: this end is "
                       "dropped", execution.pk, execution.error or execution.status, status)
        return False
    failed = status in (Execution.Status.FAILED, Execution.Status.TIMED_OUT)
    if failed and execution.trigger != Execution.Trigger.DRY_RUN:  # a test run's failure is in its own answer
        webhook_execution_failed(execution)
    return True
