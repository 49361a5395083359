"""One cycle of one strategy, as the worker runs it (docs/money.md, "A cycle"), persisted as an Execution.

positions in → should_exit per position → should_enter → every log line, action, the error with
the user's own traceback, and the new state persisted. The script runs in the sandbox
(`runtime`); its venue reads come back here through `strategies.cycle.venue_reads`, and its
orders go to the money layer (`strategies.cycle.desk.CycleDesk`), which sizes, checks and places them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chatfiles.services import chatfile_create
from runtime import CycleOutcome, SandboxLimits, SandboxUnavailable, run_cycle, shared_sandbox
from runtime.warm import shared_sessions
from strategies.cycle.desk import CycleDesk
from strategies.cycle.live_log import LiveLog, LogEntry
from strategies.cycle.rows import (
    Claim,
    Claimed,
    execution_finish,
    execution_rows,
    executions_claim,
    row_insert,
    strategy_for_run,
    versions_files,
)
from strategies.cycle.venue_reads import VenueReads
from strategies.events import execution_broadcast
from strategies.models import ActionKind, Execution, ExecutionLog, Mode, Strategy, StrategyVersion
from strategies.rules import cycles_in_flight, strategy_not_runnable_reason
from strategies.validation import CONFIG_FILE, content_hash
from strategyhub.lib.jsonable import as_json
from strategyhub.lib.refusal import Refused
from strategyhub.lib.workers import worker_id
from trading.killswitch import kill_switch_engaged, kill_switch_reason
from trading.selectors import positions_open

logger = logging.getLogger(__name__)
T = TypeVar("T")


class CycleNotStarted(Refused):
    """No cycle could start: unknown strategy, not runnable, or no sandbox."""

    type = "not_runnable"


_SOURCE_CACHE_SIZE = 4096
_source_cache: dict[tuple[int, str], dict[str, str]] = {}


def _source_files(version: StrategyVersion) -> dict[str, str]:
    """A version's files, read once per worker process: a version and its files are immutable (and hashed)."""
    key = (version.pk, version.content_hash)
    files = _source_cache.get(key)
    if files is None:
        _source_files_keep(key, files := versions_files([version.pk])[version.pk])
    return dict(files)


def _source_files_keep(key: tuple[int, str], files: dict[str, str]) -> None:
    if len(_source_cache) >= _SOURCE_CACHE_SIZE:
        _source_cache.clear()
    _source_cache[key] = files


def source_files_prefetch(claims: list[Claim]) -> None:
    """Read, in one statement, the files of the claimed runs' versions this worker process has not read yet, before
    the runs start: in a worker's first minute that is most of them, one query a run otherwise."""
    missing = {version.pk: version.content_hash for version in
               (claim.execution.strategy.running_version for claim in claims)
               if version is not None and (version.pk, version.content_hash) not in _source_cache}
    if not missing:
        return
    for version_id, files in versions_files(list(missing)).items():
        _source_files_keep((version_id, missing[version_id]), files)


class _CycleCalls:
    """The `on_call` of one cycle: reads go to the venue, orders to the money layer's desk."""

    def __init__(self, strategy: Strategy, execution: Execution, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.live_log = LiveLog(execution)
        config = execution.version.config  # the version it runs: a newer one waiting for approval may differ
        allowed = config.get("risk_limits", {}).get("allowed_services", [strategy.platform])
        self.reads = VenueReads(platform=strategy.platform, allowed_services=allowed)
        self.desk = CycleDesk(strategy=strategy, execution=execution, dry_run=dry_run, record=self.record)

    def record(self, kind: str, message: str, payload: dict[str, Any], level: str) -> None:
        self.live_log.add(LogEntry(timezone.now(), kind, message, as_json(payload), level))

    def __call__(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        if method in ("create_order", "cancel_order"):
            # The desk checks the venue itself, so a refused venue is an ORDER_REFUSED action, not an error.
            return as_json(self.desk.order(venue, method, kwargs))
        return self.reads.read(venue, method, kwargs)

    def close(self) -> None:
        self.reads.close()
        self.desk.close()


def execution_run(*, strategy_id: int, trigger: str, dry_run: bool = False) -> Execution:
    """Run one cycle now (Run now, Test Run, `strategy_run`) and persist it. Raises CycleNotStarted."""
    loaded = strategy_for_run(strategy_id)
    if loaded is None:
        raise CycleNotStarted(f"no strategy with id {strategy_id}")
    strategy = loaded.strategy
    reason = strategy_not_runnable_reason(strategy, dry_run=dry_run)
    if reason:
        raise CycleNotStarted(reason)
    # A test run tries the newest code; a real cycle runs the approved version, whatever newer one waits.
    version = strategy.current_version if dry_run else strategy.running_version
    assert version is not None
    execution = _execution_begin(strategy, version, trigger=trigger, dry_run=dry_run)
    # A test run writes no ledger row, so what was read just now still holds; a real one asks again under its lock.
    return _cycle(strategy, execution, dry_run=dry_run, ledger_empty=loaded.ledger_empty if dry_run else None)


def positions_close(*, strategy_id: int, by: str, position_ids: list[int] | None = None) -> Execution:
    """Close open positions of the strategy's current book now (`position_ids`, or every one), through the desk a
    cycle uses: the same exit checks and order path, paper or live, selling into the best bids. The dashboard's
    Close and Close all. It is recorded as a manual run of the running version whose first lines say who asked for
    what: the audit trail beside its orders and `position_closed` actions. Raises CycleNotStarted (never while a
    cycle is in flight)."""
    strategy = (Strategy.objects.select_related("current_version", "running_version")
                .filter(pk=strategy_id).first())
    if strategy is None or strategy.running_version is None:
        raise CycleNotStarted(f"strategy {strategy_id} has no approved version to close positions with")
    execution = _execution_begin(strategy, strategy.running_version, trigger=Execution.Trigger.MANUAL, dry_run=False)
    calls = _CycleCalls(strategy, execution, dry_run=False)
    asked = "every open position" if position_ids is None else ", ".join(f"position {pk}" for pk in position_ids)
    calls.live_log.system(f"close requested from the dashboard by {by}: {asked}")
    closing: list[int] = []
    try:
        calls.desk.open_cycle()  # settled, reconciled and marked as a cycle would, before selling
        held = {position.pk for position in positions_open(strategy_id=strategy.pk, book=calls.desk.book)}
        closing = sorted(held) if position_ids is None else [pk for pk in position_ids if pk in held]
        for pk in (position_ids or []):
            if pk not in held:
                calls.live_log.system(f"position {pk} is not open in the {calls.desk.book} book: nothing to close")
        for index, pk in enumerate(closing):
            calls.desk.order(strategy.platform, "create_order", {
                "intent": "exit", "position_id": str(pk), "reason": f"closed from the dashboard by {by}",
                "fraction": 1.0, "signal_index": index})
    except Exception as exc:  # the ledger or the venue failed: the run failed, say why
        logger.exception("execution %s: closing positions failed", execution.pk)
        _end(execution, calls.live_log, status=Execution.Status.FAILED, error=str(exc) or type(exc).__name__)
        return execution
    finally:
        calls.close()
    _end(execution, calls.live_log, status=Execution.Status.SUCCEEDED, error="", exits=len(closing))
    return execution


def _execution_begin(strategy: Strategy, version: StrategyVersion, *, trigger: str, dry_run: bool) -> Execution:
    """The execution row of a run of `version` started now, outside the schedule; a real one never beside another
    cycle."""
    # The strategy row lock orders a real run's check against a tick or another Run now; a Test Run may run beside a
    # cycle: nothing to check, nothing to lock, so its one insert needs no transaction of its own either.
    with nullcontext() if dry_run else transaction.atomic():
        if not dry_run:
            Strategy.objects.select_for_update().filter(pk=strategy.pk).first()
            active = cycles_in_flight([strategy]).first()
            if active is not None:
                raise CycleNotStarted(f"strategy {strategy.pk} already has a cycle {active.status} "
                                      f"(execution {active.pk}); cycles of one strategy never overlap")
        now = timezone.now()
        execution = Execution(
            strategy=strategy, version=version,
            trigger=Execution.Trigger.DRY_RUN if dry_run else trigger,
            mode=strategy.mode, status=Execution.Status.RUNNING, scheduled_for=now, started_at=now,
            worker=worker_id(),
        )
        row_insert(execution)
    return execution


class _TrialOver(Exception):
    """Ends a trial run's transaction: everything it wrote is rolled back."""


def execution_trial(*, owner: User, files: dict[str, str], read: Callable[[Execution], T]) -> T:
    """One dry-run cycle of files no strategy holds (a deploy refused for its config, run with the defaults of
    `validation.smoke_config`): on a strategy made for it in a transaction, rolled back with everything the run
    wrote once `read(execution)` has read what it needs. Raises CycleNotStarted as execution_run does."""
    config = json.loads(files[CONFIG_FILE])
    read_back: list[T] = []
    try:
        with transaction.atomic():
            strategy = Strategy.objects.create(
                owner=owner, name=f"trial run {uuid.uuid4().hex}", thesis=config["thesis"],
                platform=config["platform"], polling_interval=config["polling_interval"], config=config,
                status=Strategy.Status.DRAFT, enabled=False)
            version = StrategyVersion.objects.create(
                strategy=strategy, number=1, layout="class" if "strategy.py" in files else "scripts", config=config,
                content_hash=content_hash(files, config), created_by=owner)
            version.files.set([chatfile_create(owner=owner, chat_id="", filename=name, content=text)
                               for name, text in sorted(files.items())])
            strategy.current_version, strategy.status = version, Strategy.Status.PENDING_APPROVAL
            strategy.save(update_fields=["current_version", "status"])
            read_back.append(read(execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.DRY_RUN,
                                                dry_run=True)))
            raise _TrialOver
    except _TrialOver:
        pass
    return read_back[0]


def execution_start(*, execution_id: int) -> Execution | None:
    """Claim a queued (scheduled) execution and run it; None when another delivery already claimed it.

    The claim is a conditional update, so a redelivered task never runs a slot twice, and the
    execution (hence every client order id derived from it) is the same on every delivery. This is the
    one-run door (a re-sent run, a test): the tick's messages go through `executions_claim_due`.
    """
    claimed = _claimed(executions_claim(execution_ids=[execution_id], now=timezone.now(), worker=worker_id(),
                                        due_only=False))
    if claimed.skipped:
        return claimed.skipped[0][0]
    if not claimed.runs:
        return None
    return execution_run_claimed(claimed.runs[0])


def executions_claim_due(*, execution_ids: list[int]) -> Claimed:
    """Claim a message's runs whose slot has come, in one statement; those past their interval or whose strategy
    still runs its previous cycle are skipped by that statement and broadcast as such. Run each of `runs` with
    `execution_run_claimed`; an id in neither list was claimed before (or is not due yet)."""
    return _claimed(executions_claim(execution_ids=execution_ids, now=timezone.now(), worker=worker_id()))


def _claimed(claimed: Claimed) -> Claimed:
    for execution, line in claimed.skipped:
        transaction.on_commit(partial(execution_broadcast, execution, [line], []))
    return claimed


def execution_run_claimed(claim: Claim) -> Execution:
    """Run a claimed execution, or end it as skipped when its strategy may no longer run (paused, not approved, the
    kill switch, another version approved since it was scheduled)."""
    execution = claim.execution
    strategy = execution.strategy
    assert execution.started_at is not None  # a claim starts it
    now = execution.started_at
    reason = strategy_not_runnable_reason(strategy, dry_run=False)
    if reason is None and not strategy.enabled:
        reason = f"strategy {strategy.pk} was paused after this run was scheduled"
    if reason is None and strategy.mode == Mode.LIVE and kill_switch_engaged():
        reason = f"the kill switch is engaged ({kill_switch_reason()})"
    if reason is None and strategy.running_version_id != execution.version_id:
        reason = "another version was approved after this run was scheduled: the next slot runs it"
    if reason:
        logs = [ExecutionLog(execution=execution, seq=1, ts=now, level=ExecutionLog.Level.SYSTEM,
                             message=f"run skipped: {reason}")]
        if execution_finish(execution, status=Execution.Status.SKIPPED, error=f"skipped: {reason}", logs=logs):
            transaction.on_commit(lambda: execution_broadcast(execution, logs, []))
        return execution
    assert strategy.running_version is not None  # a runnable strategy has one
    execution.version = strategy.running_version  # the same row, checked above: no second query for it
    return _cycle(strategy, execution, dry_run=False, ledger_empty=claim.ledger_empty)


def _cycle(strategy: Strategy, execution: Execution, *, dry_run: bool, ledger_empty: bool | None = None) -> Execution:
    """Run the cycle and end it in one place (`_end`): whatever happens, the run is finished, saying why.
    `ledger_empty`: known from the claim (no position or order on the strategy's book), or None."""
    calls = _CycleCalls(strategy, execution, dry_run=dry_run)
    try:
        outcome = _run_script(strategy, execution, calls, dry_run=dry_run, ledger_empty=ledger_empty)
    except SandboxUnavailable as exc:
        _end(execution, calls.live_log, status=Execution.Status.FAILED, error=f"no cycle could start: {exc}")
        raise CycleNotStarted(f"no cycle could start: {exc}") from exc
    except Exception as exc:  # the ledger, a venue or the sandbox failed in the worker: the run failed, say why
        logger.exception("execution %s failed in the worker", execution.pk)
        _end(execution, calls.live_log, status=Execution.Status.FAILED, error=str(exc))
        return execution
    finally:
        calls.close()
    error = "\n\n".join(part for part in (outcome.error, outcome.traceback) if part)
    status = outcome.status if outcome.status in Execution.Status.values else Execution.Status.FAILED
    try:
        _end(execution, calls.live_log, status=status, error=error or ("" if status == "succeeded" else outcome.status),
             entries=len(outcome.entries), exits=len(outcome.exits), state=outcome.state,
             keep_state=not dry_run)  # a test run keeps the old state
    except Exception as exc:  # the result itself cannot be stored (a value no column or JSON can hold)
        logger.exception("execution %s: its result could not be stored", execution.pk)
        _end(execution, calls.live_log, status=Execution.Status.FAILED,
             error=f"the run's result could not be stored: {type(exc).__name__}: {exc}"[:2000])
    return execution


_limits_read: tuple[dict[str, Any], SandboxLimits] | None = None


def _sandbox_limits() -> SandboxLimits:
    """`settings.SANDBOX` as SandboxLimits, built again only when the setting changes (tests override it), not for
    every run: building it and its deep copy for the spec cost 35 us a run, 1.3 us now (issue 23)."""
    global _limits_read
    sandbox = settings.SANDBOX
    read = _limits_read
    if read is None or read[0] != sandbox:
        read = _limits_read = (dict(sandbox), SandboxLimits.from_settings(sandbox))
    return read[1]


def _run_script(strategy: Strategy, execution: Execution, calls: _CycleCalls, *, dry_run: bool,
                ledger_empty: bool | None) -> CycleOutcome:
    version = execution.version
    assert execution.started_at is not None
    try:
        positions, capital = calls.desk.open_cycle(ledger_empty=ledger_empty)
    except Exception as exc:
        raise RuntimeError(f"could not load positions and capital: {exc!r}") from exc
    ctx = {
        "strategy_id": str(strategy.pk), "platform": strategy.platform, "mode": strategy.mode, "dry_run": dry_run,
        "now": execution.started_at, "params": version.config.get("parameters", {}), "state": strategy.state,
        "capital": capital, "positions": positions,
    }
    limits = _sandbox_limits()
    calls.reads.deadline = time.monotonic() + float(limits.wall_seconds)  # no venue read outlives the script
    try:
        if settings.SANDBOX_WARM_SESSIONS and execution.trigger == Execution.Trigger.SCHEDULED and not dry_run:
            # One sandboxed session per strategy version of one owner, a fresh process per cycle (docs/sandbox.md).
            sessions = shared_sessions(**settings.SANDBOX_WARM)
            return sessions.run_cycle((strategy.owner_id, version.pk), _source_files(version), ctx, calls, limits,
                                      on_log=calls.live_log.on_log)
        return run_cycle(_source_files(version), ctx, calls, limits, on_log=calls.live_log.on_log)
    except SandboxUnavailable:
        raise
    except Exception as exc:
        raise RuntimeError(f"the sandbox call failed: {type(exc).__name__}: {exc}") from exc


def _end(execution: Execution, live_log: LiveLog, *, status: str, error: str, entries: int = 0, exits: int = 0,
         state: dict[str, Any] | None = None, keep_state: bool = False) -> None:
    """The one way a started run ends: its system lines (signals, orders, how it finished), its last log lines,
    its status and error, its state; then the broadcast.

    If what it would store cannot be stored, the caller ends it again as failed, without the state; the
    log lines that could not be written are dropped then, and the error says why.
    """
    try:
        finished = timezone.now()
        _summary(live_log, execution, status=status, error=error, entries=entries, exits=exits, at=finished)
        logs, actions = live_log.take()  # what was not streamed already
        execution.entries, execution.exits, execution.state_after = entries, exits, state
        if execution_finish(execution, status=status, error=error, strategy_state=state if keep_state else None,
                            logs=logs, actions=actions, finished_at=finished):
            transaction.on_commit(lambda: execution_broadcast(execution, logs, actions))  # persist, then broadcast
    except Exception:
        execution.entries, execution.exits, execution.state_after = 0, 0, None
        raise


def _summary(live_log: LiveLog, execution: Execution, *, status: str, error: str, entries: int, exits: int,
             at: datetime) -> None:
    kinds = live_log.kinds
    orders = [f"{count} {label}" for count, label in (
        (kinds[ActionKind.ORDER_PLACED], "placed"), (kinds[ActionKind.ORDER_WOULD_PLACE], "would be placed"),
        (kinds[ActionKind.ORDER_REFUSED], "refused")) if count]
    closed = kinds[ActionKind.POSITION_CLOSED]
    live_log.system(f"{_count(entries, 'entry signal')}, {_count(exits, 'exit signal')}; orders: "
                    f"{', '.join(orders) or 'none'}" + (f"; {_count(closed, 'position')} closed" if closed else ""),
                    at=at)
    started = execution.started_at or at
    took = round((max(at, started) - started).total_seconds() * 1000)
    reason = f": {error.splitlines()[0][:300]}" if error and status != Execution.Status.SUCCEEDED else ""
    live_log.system(f"run {Execution.Status(status).label.lower()} in {took} ms{reason}", at=at)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def sandbox_prestart() -> None:
    """Start this process's lean zygote (strategies that import neither numpy nor pandas) without waiting for it: a
    worker process does this when it starts, so its first cycles do not wait ~130 ms for it (the zygote with numpy
    and pandas, ~360 ms and more memory, still starts on the first cycle that needs it)."""
    shared_sandbox(preload=False).prestart(_sandbox_limits())


def execution_as_dict(execution: Execution) -> dict[str, Any]:
    """The `strategy_run --json` shape."""
    logs, actions = execution_rows(execution.pk)
    return {
        "id": str(execution.pk), "status": execution.status, "trigger": execution.trigger, "mode": execution.mode,
        "duration_ms": execution.duration_ms, "entries": execution.entries, "exits": execution.exits,
        "logs": logs, "actions": actions,
        "error": execution.error or None, "state": execution.state_after,
    }
