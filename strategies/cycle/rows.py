"""A run's rows in as few statements as the database allows: one to claim and load it, one to end it.

Every scheduled run starts with a claim and ends with its log, its result and its counters. Through
the ORM that was seven statements and more CPU to build them than Postgres needed to run them
(docs/scheduling.md, Throughput). Each is now one hand-written Postgres statement:

- `executions_claim`: the conditional UPDATE that claims a message's queued runs (those due, for the tick's
  messages) RETURNING each run, its strategy and the strategy's current version, and whether the strategy
  has any ledger rows (most have none, and then the money layer needs no query at all); in the same statement
  a run past its interval or whose strategy still runs its previous cycle is ended as skipped, saying why
  (after its strategies' claim locks, in the same transaction, so two claims of one strategy never both run);
- `executions_rows_end`: one statement whose CTEs end runs (only while still `running`), then insert
  their remaining log lines and actions and count them on their strategies, or write nothing for a run
  already ended. A single statement is atomic by itself: no BEGIN/COMMIT trips. `execution_rows_end`
  ends one run through it, or, for the runs of one message (`EndBatch`), shares it with those that end at
  the same time;
- `execution_finish`, what every end of a run goes through (the worker's, recovery's): that statement, then
  the failed-run webhook.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
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
WITH mine AS MATERIALIZED (  -- by id alone: a plan through `execution_active` would read every dead queued entry
    SELECT e.id, e.strategy_id, e.scheduled_for, e.status FROM strategies_execution e WHERE e.id = ANY(%(ids)s)
), candidate AS MATERIALIZED (  -- each run's overlap check once, not once for each column the claim sets from it
    SELECT e.id, e.status, CASE
        WHEN %(now)s - e.scheduled_for > s.polling_interval * interval '1 second' THEN format(
            'started %%s s after its slot, past its %%s-second interval: the next slot runs instead (workers were '
            'saturated or stopped)', to_char(extract(epoch FROM %(now)s - e.scheduled_for), 'FM9999999990.0'),
            s.polling_interval)
        WHEN EXISTS (SELECT 1 FROM strategies_execution o WHERE o.strategy_id = e.strategy_id AND o.id <> e.id
                     AND o.status = %(running)s AND o.trigger <> %(dry_run)s)
        THEN %(busy)s
    END AS skip
    FROM mine e JOIN strategies_strategy s ON s.id = e.strategy_id
    WHERE e.status = %(queued)s AND e.scheduled_for <= %(due_by)s
), claimed AS (
    UPDATE strategies_execution AS e SET
        status = CASE WHEN c.skip IS NULL THEN %(running)s ELSE %(skipped)s END,
        started_at = CASE WHEN c.skip IS NULL THEN %(now)s END,
        finished_at = CASE WHEN c.skip IS NULL THEN e.finished_at ELSE %(now)s END,
        error = CASE WHEN c.skip IS NULL THEN e.error ELSE 'skipped: ' || c.skip END,
        worker = %(worker)s
    FROM candidate AS c
    WHERE e.id = c.id AND e.status = c.status  -- still queued; matched to the run's, so found by id, not by status
    RETURNING e.*, c.skip
), skip_lines AS (
    INSERT INTO strategies_executionlog (execution_id, seq, ts, level, message)
    SELECT id, 1, %(now)s, %(system)s, 'run skipped: ' || skip FROM claimed WHERE skip IS NOT NULL
)
SELECT {_select_list("e", Execution)}, {_select_list("s", Strategy)}, {_select_list("v", StrategyVersion)},
    EXISTS (SELECT 1 FROM trading_position p WHERE p.strategy_id = s.id AND p.book = %(book)s)
    OR EXISTS (SELECT 1 FROM trading_order o WHERE o.strategy_id = s.id AND o.book = %(book)s), e.skip
FROM claimed AS e JOIN strategies_strategy AS s ON s.id = e.strategy_id
LEFT JOIN strategies_strategyversion AS v ON v.id = s.running_version_id
ORDER BY e.scheduled_for, e.id
"""  # noqa: S608 - column names from the models, values bound. The ledger test is trading.selectors.ledger_empty's

BUSY = "the previous cycle was still running"  # a run never overlaps the previous cycle of its strategy

CLAIM_LOCKS = 23  # the advisory locks' first key that claims take, one a strategy (the second key)

# Two claims of one strategy each decide "no other run in flight" from the snapshot their statement starts
# with: under READ COMMITTED, both may run. Each claim takes its strategies' advisory locks first, in
# ascending order (no deadlock between claims), held until it commits: the claim statement after them starts
# with a snapshot that sees every run the claims before it started. Advisory, not the strategy rows: the tick
# locks those (skipping locked ones) for the length of its batch.
_CLAIM_LOCK_SQL = """
WITH mine AS MATERIALIZED (SELECT strategy_id, status FROM strategies_execution WHERE id = ANY(%(ids)s))
SELECT pg_advisory_xact_lock(%(locks)s, k) FROM (
    SELECT DISTINCT (strategy_id %% 2147483647)::integer AS k FROM mine WHERE status = %(queued)s ORDER BY k
) AS t
"""

# The locks, then the claim, in one round trip: one simple-protocol query of two statements runs as one transaction
# (an implicit one outside a caller's), each statement with a snapshot of its own (the claim's after the locks), so no
# BEGIN and COMMIT of their own. It needs client-side binding, Django's default on psycopg 3 (settings: DATABASES).
_CLAIM_LOCKED_SQL = _CLAIM_LOCK_SQL.rstrip() + ";\n" + _CLAIM_SQL


@dataclass
class Claimed:
    """What one claim statement did with a message's runs: `runs` to run now, `skipped` ended already (each with its
    one `run skipped: …` line), and the ids it left alone (claimed before, ended, or not yet due)."""

    runs: list[Claim]
    skipped: list[tuple[Execution, ExecutionLog]]


def executions_claim(*, execution_ids: Sequence[int], now: datetime, worker: str, due_only: bool = True) -> Claimed:
    """Claim a message's queued runs in one statement (a conditional update: a redelivered or duplicate message
    finds them taken) and load what each needs. `due_only`: never one whose slot is after `now` (the tick sends
    its runs ahead of their slot). A run past its interval, or whose strategy has another cycle running, is not
    run: the same statement ends it as skipped, saying why, so the two rules hold however the messages race (its
    strategies' claim locks, taken first in the same transaction, order it after any claim of theirs in flight)."""
    ids = list(execution_ids)
    # Inside a caller's transaction, a savepoint as before (a failed claim leaves the caller's transaction usable).
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_LOCKED_SQL, {
            "locks": CLAIM_LOCKS, "running": Execution.Status.RUNNING, "queued": Execution.Status.QUEUED,
            "skipped": Execution.Status.SKIPPED, "dry_run": Execution.Trigger.DRY_RUN, "busy": BUSY,
            "system": ExecutionLog.Level.SYSTEM, "now": now, "worker": worker, "ids": ids,
            "due_by": now if due_only else datetime.max.replace(tzinfo=now.tzinfo), "book": "paper"})
        cursor.nextset()  # past the locks' rows, to the claim's
        rows = cursor.fetchall()
    sizes = [len(_columns(model)) for model in (Execution, Strategy, StrategyVersion)]
    claimed = Claimed([], [])
    for row in rows:
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
        skip = row[-1]
        if skip is not None:
            claimed.skipped.append((execution, ExecutionLog(execution=execution, seq=1, ts=now,
                                                            level=ExecutionLog.Level.SYSTEM,
                                                            message=f"run skipped: {skip}")))
            continue
        # Only the paper book was tested; a live run reconciles with its venue whatever its ledger holds.
        claimed.runs.append(Claim(execution, ledger_empty=None if strategy.mode == Mode.LIVE else not row[-2]))
    return claimed


_STRATEGY_SQL = f"""
SELECT {_select_list("s", Strategy)}, {_select_list("c", StrategyVersion)}, {_select_list("r", StrategyVersion)},
    EXISTS (SELECT 1 FROM trading_position p WHERE p.strategy_id = s.id AND p.book = %(book)s)
    OR EXISTS (SELECT 1 FROM trading_order o WHERE o.strategy_id = s.id AND o.book = %(book)s)
FROM strategies_strategy AS s
LEFT JOIN strategies_strategyversion AS c ON c.id = s.current_version_id
LEFT JOIN strategies_strategyversion AS r ON r.id = s.running_version_id
WHERE s.id = %(id)s
"""  # noqa: S608 - column names from the models, values bound. The ledger test is the claim's


@dataclass
class Loaded:
    """A strategy read for a run outside the schedule, with `current_version` and `running_version` loaded."""

    strategy: Strategy
    ledger_empty: bool | None  # as a Claim's


def strategy_for_run(strategy_id: int) -> Loaded | None:
    """A strategy with both its versions and whether its paper ledger is empty, in one statement: what
    `select_related` and the desk's ledger query read in two, without building either through the ORM (a dry
    run's CPU, issue 23)."""
    with connection.cursor() as cursor:
        cursor.execute(_STRATEGY_SQL, {"id": strategy_id, "book": "paper"})
        row = cursor.fetchone()
    if row is None:
        return None
    strategy_size, version_size = len(_columns(Strategy)), len(_columns(StrategyVersion))
    strategy: Strategy = _reader(Strategy)(row[:strategy_size])
    for offset, attribute in ((strategy_size, "current_version"), (strategy_size + version_size, "running_version")):
        values = row[offset : offset + version_size]
        setattr(strategy, attribute, None if values[0] is None else _reader(StrategyVersion)(values))
    return Loaded(strategy, ledger_empty=None if strategy.mode == Mode.LIVE else not row[-1])


@cache
def _insert_sql(model: type[models.Model]) -> tuple[str, list[models.Field[Any, Any]]]:
    fields = [field for field in _columns(model) if not field.primary_key]
    names = ", ".join(f'"{field.column}"' for field in fields)
    values = ", ".join("%s" for _ in fields)
    return f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES ({values}) RETURNING "id"', fields  # noqa: S608


def row_insert(instance: models.Model) -> None:
    """Insert a new row as `instance.save(force_insert=True)` would (each field's `pre_save` and database value,
    no signal: none is connected to the models it is used for), without compiling an insert query each time."""
    sql, fields = _insert_sql(type(instance))
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding, instance._state.db = False, connection.alias


def versions_files(version_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """The files of each version, by filename as `StrategyVersion.source_files` orders them, in one statement (a
    version without files: `{}`). A worker process reads each version's files once; in its first minute that is every
    version it runs, and one ORM query a version cost ≈ 0.6 ms of its CPU (issue 23)."""
    through = StrategyVersion.files.through
    chat_file = StrategyVersion._meta.get_field("files").related_model
    version_column = through._meta.get_field("strategyversion").column
    file_column = through._meta.get_field("chatfile").column
    files: dict[int, dict[str, str]] = {version_id: {} for version_id in version_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT t."{version_column}", f.filename, f.content FROM "{through._meta.db_table}" AS t '  # noqa: S608
            f'JOIN "{chat_file._meta.db_table}" AS f ON f.id = t."{file_column}" '
            f'WHERE t."{version_column}" = ANY(%s) ORDER BY t."{version_column}", f.filename', [list(version_ids)])
        for version_id, filename, content in cursor.fetchall():
            files[version_id][filename] = content
    return files


_RUN_ROWS_SQL = """
SELECT 0 AS part, seq, ts, level, message, NULL AS payload FROM strategies_executionlog WHERE execution_id = %(id)s
UNION ALL
SELECT 1, seq, ts, kind, message, payload::text FROM strategies_executionaction WHERE execution_id = %(id)s
ORDER BY part, seq
"""


def execution_rows(execution_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A run's log lines and actions as stored, each in order of its sequence number: one statement instead of two
    ORM queries (`strategy_run --json`)."""
    payload = ExecutionAction._meta.get_field("payload")
    assert isinstance(payload, models.JSONField)
    logs: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    with connection.cursor() as cursor:
        cursor.execute(_RUN_ROWS_SQL, {"id": execution_id})
        for part, seq, ts, level_or_kind, message, payload_text in cursor.fetchall():
            if part == 0:
                logs.append({"seq": seq, "ts": ts.isoformat(), "level": level_or_kind, "message": message})
            else:
                actions.append({"seq": seq, "ts": ts.isoformat(), "kind": level_or_kind, "message": message,
                                "payload": json.loads(payload_text, cls=payload.decoder)})  # as the field decodes
    return logs, actions


_END_SQL = """
WITH mine AS MATERIALIZED (  -- by id alone: a plan through a partial index by status would read every dead entry
    SELECT id, status FROM strategies_execution WHERE id = ANY(%(ids)s)
), ended AS (
    UPDATE strategies_execution AS e SET status = t.status, error = t.error, finished_at = t.finished_at,
        entries = t.entries, exits = t.exits, state_after = t.state_after
    FROM json_to_recordset(%(runs)s::json) AS t(id bigint, status text, error text, finished_at timestamptz,
                                                entries integer, exits integer, state_after jsonb), mine AS m
    WHERE m.id = t.id AND m.status = %(running)s AND e.id = m.id AND e.status = m.status  -- still running
    RETURNING e.id
), new_logs AS (
    INSERT INTO strategies_executionlog (execution_id, seq, ts, level, message)
    SELECT t.execution_id, t.seq, t.ts, t.level, t.message
    FROM json_to_recordset(%(logs)s::json) AS t(execution_id bigint, seq integer, ts timestamptz, level text,
                                                message text)
    WHERE t.execution_id IN (SELECT id FROM ended)
), new_actions AS (
    INSERT INTO strategies_executionaction (execution_id, seq, ts, kind, message, payload)
    SELECT t.execution_id, t.seq, t.ts, t.kind, t.message, t.payload
    FROM json_to_recordset(%(actions)s::json) AS t(execution_id bigint, seq integer, ts timestamptz, kind text,
                                                   message text, payload jsonb)
    WHERE t.execution_id IN (SELECT id FROM ended)
), counted AS (
    UPDATE strategies_strategy AS s SET state = COALESCE(t.state, s.state),
        last_cycle_ms = COALESCE(t.last_cycle_ms, s.last_cycle_ms),
        runs_total = s.runs_total + t.counted, runs_succeeded = s.runs_succeeded + t.succeeded,
        runs_failed = s.runs_failed + t.failed
    FROM json_to_recordset(%(runs)s::json) AS t(id bigint, strategy_id bigint, state jsonb, last_cycle_ms integer,
                                                counted integer, succeeded integer, failed integer)
    WHERE s.id = t.strategy_id AND t.id IN (SELECT id FROM ended)
        AND (t.counted > 0 OR t.state IS NOT NULL OR t.last_cycle_ms IS NOT NULL)
)
SELECT id FROM ended
"""


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


@dataclass
class RunEnd:
    """How one run ends: `execution` carries status, error, finished_at, entries, exits and state_after."""

    execution: Execution
    logs: Sequence[ExecutionLog] = ()
    actions: Sequence[ExecutionAction] = ()
    counted: bool = False
    strategy_state: dict[str, Any] | None = None
    last_cycle_ms: int | None = None


def executions_rows_end(ends: Sequence[RunEnd]) -> set[int]:
    """End several runs in one statement: each one's remaining log lines and actions, its end, and its count on its
    strategy (see `execution_rows_end`). Returns the ids it ended: a run something else ended first is left as it is,
    with nothing of it written."""
    # Each set is one JSON document (one encode in C, one string to bind) rather than an array a column: psycopg
    # builds arrays in Python. The state and payloads go in as JSON values, not as JSON in a string.
    runs = [{"id": end.execution.pk, "strategy_id": end.execution.strategy_id, "status": end.execution.status,
             "error": end.execution.error, "finished_at": _iso(end.execution.finished_at),
             "entries": end.execution.entries, "exits": end.execution.exits,
             "state_after": end.execution.state_after, "state": end.strategy_state, "last_cycle_ms": end.last_cycle_ms,
             "counted": int(end.counted),
             "succeeded": int(end.counted and end.execution.status == Execution.Status.SUCCEEDED),
             "failed": int(end.counted and end.execution.status != Execution.Status.SUCCEEDED)} for end in ends]
    logs = [{"execution_id": end.execution.pk, "seq": line.seq, "ts": _iso(line.ts), "level": line.level,
             "message": line.message} for end in ends for line in end.logs]
    actions = [{"execution_id": end.execution.pk, "seq": action.seq, "ts": _iso(action.ts), "kind": action.kind,
                "message": action.message, "payload": action.payload} for end in ends for action in end.actions]
    parameters: dict[str, Any] = {
        "running": Execution.Status.RUNNING, "ids": [end.execution.pk for end in ends],
        "runs": json.dumps(runs, allow_nan=False), "logs": json.dumps(logs, allow_nan=False),
        "actions": json.dumps(actions, allow_nan=False)}
    # Alone, the statement is its own transaction; inside a caller's, a savepoint keeps a failure from
    # aborting the caller's transaction (the run is then ended again, as failed).
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(_END_SQL, parameters)
        return {row[0] for row in cursor.fetchall()}


END_LINGER_SECONDS = 0.05  # how long the first run of a message to end waits for the others to end beside it


class _Waiting:
    def __init__(self, end: RunEnd) -> None:
        self.end = end
        self.done = False
        self.ended = False
        self.alone = False  # the shared statement failed: this run writes its own end (and sees its own error)


class EndBatch:
    """The ends of one message's runs, written together: the first to end waits up to END_LINGER_SECONDS for the
    others still running (never longer, so a slow run delays no other), then one statement ends every run that is
    waiting; runs that end while it writes go in the next. Each caller waits for its own answer, so an end reads
    the same whether it was written alone or with others."""

    def __init__(self, execution_ids: Sequence[int], *, linger: float = END_LINGER_SECONDS) -> None:
        self._linger = linger
        self._cond = threading.Condition()
        self._outstanding = set(execution_ids)
        self._waiting: list[_Waiting] = []
        self._writing = False

    def leave(self, execution_id: int) -> None:
        """This run will not end through the batch (it ended, or failed before its end): nobody waits for it."""
        with self._cond:
            self._outstanding.discard(execution_id)
            self._cond.notify_all()

    def end(self, end: RunEnd) -> bool:
        waiting = _Waiting(end)
        with self._cond:
            self._waiting.append(waiting)
            self._outstanding.discard(end.execution.pk)
            self._cond.notify_all()
            leader = not self._writing
            self._writing = True
        if leader:
            self._write_while_waiting()
        with self._cond:
            self._cond.wait_for(lambda: waiting.done)
        if waiting.alone:
            return end.execution.pk in executions_rows_end([end])
        return waiting.ended

    def _write_while_waiting(self) -> None:
        deadline = time.monotonic() + self._linger
        while True:
            with self._cond:
                self._cond.wait_for(lambda: not self._outstanding, timeout=max(0.0, deadline - time.monotonic()))
                batch, self._waiting = self._waiting, []
                if not batch:
                    self._writing = False
                    return
            try:
                ended = executions_rows_end([waiting.end for waiting in batch])
            except Exception:  # one run's values cannot be stored: each writes its own, and the culprit learns why
                logger.warning("the ends of %s runs could not be written together: each is written alone", len(batch),
                               exc_info=True)
                ended, alone = set(), True
            else:
                alone = False
            with self._cond:
                for waiting in batch:
                    waiting.ended, waiting.alone, waiting.done = waiting.end.execution.pk in ended, alone, True
                self._cond.notify_all()
            deadline = time.monotonic()  # later ends go as soon as the statement before them is written


_end_batch: ContextVar[EndBatch | None] = ContextVar("end_batch", default=None)


@contextmanager
def ends_together(batch: EndBatch, execution_id: int) -> Iterator[None]:
    """Within it, this thread's run ends through `batch` (strategies.execution_cycles' runs, side by side)."""
    token = _end_batch.set(batch)
    try:
        yield
    finally:
        _end_batch.reset(token)
        batch.leave(execution_id)


def execution_rows_end(execution: Execution, *, logs: Sequence[ExecutionLog], actions: Sequence[ExecutionAction],
                       counted: bool, strategy_state: dict[str, Any] | None, last_cycle_ms: int | None) -> bool:
    """Write the run's remaining log lines and actions, its end (status, error, finished_at, entries,
    exits, state_after, as set on `execution`), and, when `counted`, count it on the strategy; keep
    `strategy_state` and `last_cycle_ms` (the slow lane's measure) when given. All or nothing.

    Only a run still `running` is ended: False, and nothing written, when something else ended it first
    (recovery, while this worker was cut off), since the next slot may be running by then. Within
    `ends_together`, the statement is shared with the message's other runs that end at the same time."""
    end = RunEnd(execution, logs, actions, counted, strategy_state, last_cycle_ms)
    batch = _end_batch.get()
    if batch is not None and not connection.in_atomic_block:
        return batch.end(end)
    return execution.pk in executions_rows_end([end])


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
