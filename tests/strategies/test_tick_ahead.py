"""Issue 23, the scheduling side: the tick sends each slot's runs ahead, to the worker that owns their version, a few
to a message; one statement claims a message's runs at their slot (never before), skipping those whose strategy still
runs its previous cycle; the runs of a message that end together are ended by one statement; a late or duplicate
message runs nothing twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strategies.cycle.rows import (
    BUSY,
    EndBatch,
    RunEnd,
    ends_together,
    execution_rows_end,
    executions_claim,
    executions_rows_end,
    versions_files,
)
from strategies.models import Execution, ExecutionAction, ExecutionLog, Strategy
from strategies.scheduling import CycleMessage, Route, strategies_tick
from strategies.tasks import execution_cycles
from strategyhub.lib.hashring import HashRing
from tests.strategies.test_strategy_run import deploy

pytestmark = pytest.mark.django_db

QUIET = "def should_enter(ctx):\n    ctx.log('tick')\n    return []\n"


def due_at(strategy: Strategy, slot: datetime) -> Strategy:
    Strategy.objects.filter(pk=strategy.pk).update(next_run_at=slot)
    strategy.refresh_from_db()
    return strategy


def messages_of(capture, now: datetime, *, route: Route | None = None) -> list[CycleMessage]:
    sent: list[CycleMessage] = []
    with capture(execute=True):
        strategies_tick(enqueue=lambda pk: None, send=sent.append, now=now, route=route)
    return sent


def test_the_claim_skips_a_run_whose_previous_cycle_is_still_running(
        alice, staff, django_capture_on_commit_callbacks) -> None:
    strategy = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10)
    first = timezone.now() - timedelta(seconds=11)
    due_at(strategy, first)
    [[previous]] = [m.execution_ids for m in messages_of(django_capture_on_commit_callbacks, first)]
    Execution.objects.filter(pk=previous).update(status="running", started_at=first)  # a worker is in its cycle
    [[run]] = [m.execution_ids for m in messages_of(django_capture_on_commit_callbacks, first + timedelta(seconds=10))]
    assert Execution.objects.get(pk=run).status == "queued"  # the tick no longer decides it: the claim does

    execution_cycles.apply(args=([run],))
    skipped = Execution.objects.get(pk=run)
    assert (skipped.status, skipped.error) == ("skipped", f"skipped: {BUSY}")
    assert list(skipped.logs.values_list("message", flat=True)) == [f"run skipped: {BUSY}"]
    assert Execution.objects.get(pk=previous).status == "running"  # left alone
    strategy.refresh_from_db()
    assert strategy.runs_total == 0


def test_a_previous_cycle_that_ended_before_the_slot_does_not_skip_the_next(
        alice, staff, django_capture_on_commit_callbacks) -> None:
    strategy = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10)
    first = timezone.now() - timedelta(seconds=11)
    due_at(strategy, first)
    [[previous]] = [m.execution_ids for m in messages_of(django_capture_on_commit_callbacks, first)]
    Execution.objects.filter(pk=previous).update(status="running", started_at=first)
    # The tick sends the next slot ahead while the previous cycle still runs; it ends before the slot comes.
    [[run]] = [m.execution_ids for m in messages_of(django_capture_on_commit_callbacks, first + timedelta(seconds=9))]
    Execution.objects.filter(pk=previous).update(status="succeeded", finished_at=first + timedelta(seconds=9.5))
    execution_cycles.apply(args=([run],))
    assert Execution.objects.get(pk=run).status == "succeeded"


def test_a_duplicate_or_late_message_runs_nothing_twice(alice, staff, django_capture_on_commit_callbacks) -> None:
    strategy = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10)
    slot = timezone.now() - timedelta(seconds=1)
    due_at(strategy, slot)
    [message] = messages_of(django_capture_on_commit_callbacks, slot)
    execution_cycles.apply(args=(message.execution_ids,))
    execution_cycles.apply(args=(message.execution_ids,))  # delivered twice
    [execution] = Execution.objects.filter(strategy=strategy)
    assert execution.status == "succeeded"
    assert list(execution.logs.exclude(level="system").values_list("message", flat=True)) == ["tick"]
    strategy.refresh_from_db()
    assert (strategy.runs_total, strategy.runs_succeeded) == (1, 1)

    late_slot = timezone.now() - timedelta(seconds=25)  # its message arrives after its interval: skipped, not run
    Strategy.objects.filter(pk=strategy.pk).update(next_run_at=late_slot)
    [late] = messages_of(django_capture_on_commit_callbacks, late_slot)
    execution_cycles.apply(args=(late.execution_ids,))
    execution_cycles.apply(args=(late.execution_ids,))
    skipped = Execution.objects.get(pk=late.execution_ids[0])
    assert skipped.status == "skipped" and skipped.error.startswith("skipped: started 2"), skipped.error
    assert "past its 10-second interval" in skipped.error
    assert skipped.logs.count() == 1
    strategy.refresh_from_db()
    assert strategy.runs_total == 1


def test_a_run_is_never_claimed_before_its_slot(alice, staff, django_capture_on_commit_callbacks) -> None:
    strategy = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10)
    slot = timezone.now() + timedelta(seconds=60)
    due_at(strategy, slot)
    [message] = messages_of(django_capture_on_commit_callbacks, slot - timedelta(milliseconds=500))
    assert message.eta == slot
    execution_cycles.apply(args=(message.execution_ids,))  # a message handed over a minute early
    assert Execution.objects.get(pk=message.execution_ids[0]).status == "queued"


def test_a_message_s_runs_are_claimed_by_one_statement(alice, staff, django_capture_on_commit_callbacks) -> None:
    strategies = [deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10, name=f"batch {index}")
                  for index in range(3)]
    slot = timezone.now() - timedelta(seconds=1)
    for index, strategy in enumerate(strategies):
        due_at(strategy, slot + timedelta(milliseconds=10 * index))
    [message] = messages_of(django_capture_on_commit_callbacks, slot + timedelta(milliseconds=50))
    assert len(message.execution_ids) == 3 and message.eta == slot + timedelta(milliseconds=20)
    with CaptureQueriesContext(connection) as queries:
        execution_cycles.apply(args=(message.execution_ids,))
    claims = [query["sql"] for query in queries.captured_queries
              if "strategies_execution AS e SET" in query["sql"] and "started_at" in query["sql"]]
    assert len(claims) == 1, claims
    assert set(Execution.objects.filter(pk__in=message.execution_ids).values_list("status", flat=True)) == {"succeeded"}


def test_a_message_s_runs_read_the_files_of_versions_new_to_the_process_in_one_statement(
        alice, staff, django_capture_on_commit_callbacks) -> None:
    strategies = [deploy(alice, entry=QUIET.replace("tick", f"tick {index}"), approve_by=staff, polling_interval=10,
                         name=f"files {index}") for index in range(3)]
    slot = timezone.now() - timedelta(seconds=1)
    for strategy in strategies:
        due_at(strategy, slot)
    [message] = messages_of(django_capture_on_commit_callbacks, slot + timedelta(milliseconds=50))
    with CaptureQueriesContext(connection) as queries:
        execution_cycles.apply(args=(message.execution_ids,))
    reads = [query["sql"] for query in queries.captured_queries if "chatfiles_chatfile" in query["sql"]]
    assert len(reads) == 1, reads  # new versions to this process: one statement for the three, none a run
    for strategy in strategies:
        execution = Execution.objects.get(pk__in=message.execution_ids, strategy=strategy)
        assert execution.status == "succeeded"
        assert f"tick {strategies.index(strategy)}" in execution.logs.values_list("message", flat=True)
    versions = [strategy.running_version for strategy in strategies]
    read = versions_files([version.pk for version in versions if version is not None])
    assert [list(read[version.pk].items()) for version in versions if version is not None] == [
        list(version.source_files().items()) for version in versions if version is not None]


@pytest.mark.django_db(transaction=True)
def test_a_claim_takes_its_locks_and_claims_in_one_round_trip(alice, staff) -> None:
    """Outside a transaction (as in a worker) the claim is one query of two statements, locks then claim, which
    Postgres runs as one transaction: no BEGIN or COMMIT of its own, and the locks held until the claim is written."""
    strategy = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10)
    assert strategy.running_version is not None
    execution = Execution.objects.create(strategy=strategy, version=strategy.running_version, trigger="scheduled",
                                         mode=strategy.mode, status="queued", scheduled_for=timezone.now())
    sent: list[str] = []

    def wrapper(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        claimed = executions_claim(execution_ids=[execution.pk], now=timezone.now(), worker="w")
    assert [claim.execution.pk for claim in claimed.runs] == [execution.pk]
    assert len(sent) == 1 and "pg_advisory_xact_lock" in sent[0] and "RETURNING e.*" in sent[0], sent
    assert not connection.in_atomic_block and connection.get_autocommit()
    assert Execution.objects.get(pk=execution.pk).status == "running"  # committed by that one query


def test_runs_are_grouped_by_owner_and_grain_and_sent_to_their_owner(
        alice, staff, settings, django_capture_on_commit_callbacks) -> None:
    settings.SCHEDULE_GRAIN_MS = 100
    strategies = [deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10, name=f"routed {index}")
                  for index in range(6)]
    slot = timezone.now().replace(microsecond=0) + timedelta(seconds=30)
    for index, strategy in enumerate(strategies):  # three in one grain, three in the next
        due_at(strategy, slot + timedelta(milliseconds=10 * index + (100 if index >= 3 else 0)))
    ring = HashRing(["q.cycles.a", "q.cycles.b"])
    sent = messages_of(django_capture_on_commit_callbacks, slot, route=ring.owner)
    by_id = {execution.pk: execution for execution in Execution.objects.all()}
    assert sorted(pk for message in sent for pk in message.execution_ids) == sorted(by_id)
    for message in sent:
        runs = [by_id[pk] for pk in message.execution_ids]
        assert {ring.owner(str(run.version_id)) for run in runs} == {message.queue}  # one worker a message
        assert message.eta == max(run.scheduled_for for run in runs)  # none is claimed before its slot
        assert max(run.scheduled_for for run in runs) - min(run.scheduled_for for run in runs) < timedelta(
            milliseconds=100)
    no_worker = HashRing([])
    Strategy.objects.update(next_run_at=slot + timedelta(seconds=10))
    Execution.objects.update(status="skipped", finished_at=timezone.now(), error="skipped: not under test")
    cold = messages_of(django_capture_on_commit_callbacks, slot + timedelta(seconds=10), route=no_worker.owner)
    assert cold and {message.queue for message in cold} == {None}  # no live worker: the shared queue


def test_a_hash_ring_moves_only_the_keys_of_a_worker_that_leaves() -> None:
    keys = [str(key) for key in range(2000)]
    three = HashRing(["a", "b", "c"])
    two = HashRing(["a", "b"])
    owners = {key: three.owner(key) for key in keys}
    share = {node: sum(1 for owner in owners.values() if owner == node) / len(keys) for node in "abc"}
    assert all(0.2 < fraction < 0.47 for fraction in share.values()), share  # spread over the three
    moved = [key for key in keys if owners[key] != "c" and two.owner(key) != owners[key]]
    assert moved == []  # a's and b's keys stay where they were
    assert HashRing([]).owner("1") is None


@pytest.mark.django_db(transaction=True)
def test_runs_of_a_message_that_end_together_are_ended_by_one_statement(alice, staff) -> None:
    strategies = [deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10, name=f"end {index}")
                  for index in range(3)]
    now = timezone.now()
    assert all(strategy.running_version is not None for strategy in strategies)
    runs = [Execution.objects.create(strategy=strategy, version=strategy.running_version, trigger="scheduled",  # type: ignore[misc]
                                     mode=strategy.mode, status="running", scheduled_for=now, started_at=now)
            for strategy in strategies]
    batch = EndBatch([run.pk for run in runs], linger=60)  # waits for all three: none is slow here
    ended: list[bool] = []

    def end(run: Execution) -> None:
        close_old_connections()
        try:
            with ends_together(batch, run.pk):
                run.status, run.finished_at = "succeeded", timezone.now()
                ended.append(execution_rows_end(run, logs=[], actions=[], counted=True, strategy_state={"n": 1},
                                                last_cycle_ms=5))
        finally:
            connection.close()

    threads = [threading.Thread(target=end, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ended == [True, True, True]
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT xmin::text FROM strategies_execution WHERE id = ANY(%s)",
                       [[run.pk for run in runs]])
        assert len(cursor.fetchall()) == 1  # one statement, one transaction
    assert [s.runs_succeeded for s in Strategy.objects.filter(pk__in=[s.pk for s in strategies])] == [1, 1, 1]
    assert execution_rows_end(runs[0], logs=[], actions=[], counted=True, strategy_state=None,
                              last_cycle_ms=None) is False  # ended already: nothing written twice
    assert RunEnd(runs[0]).counted is False


def test_a_shared_end_writes_each_run_s_rows_exactly(alice, staff) -> None:
    """The end statement takes its runs, lines and actions as JSON documents: what it writes is what the caller
    holds, to the microsecond and the JSON type (a state and a payload stay objects, not strings), each run with
    its own lines and counters, and a run ended before is left without a row of its."""
    strategies = [deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10, name=f"rows {index}")
                  for index in range(3)]
    started = timezone.now().replace(microsecond=123456)
    runs = [Execution.objects.create(strategy=strategy, version=strategy.running_version, trigger="scheduled",  # type: ignore[misc]
                                     mode=strategy.mode, status="running", scheduled_for=started, started_at=started)
            for strategy in strategies]
    Execution.objects.filter(pk=runs[2].pk).update(status="failed", error="lost", finished_at=started)
    at = started + timedelta(microseconds=654321)
    ends = []
    for index, run in enumerate(runs):
        run.status, run.error, run.finished_at = ("succeeded", "", at) if index == 0 else ("failed", "boom ✗\n'\"", at)
        run.entries, run.exits, run.state_after = index, 0, {"n": index, "list": [1.5, None, "é"]}
        logs = [ExecutionLog(execution=run, seq=seq, ts=at + timedelta(microseconds=seq), level="info",
                             message=f"line {seq} of {index}") for seq in (1, 2)]
        actions = [ExecutionAction(execution=run, seq=1, ts=at, kind="order_refused", message="refused",
                                   payload={"size": "10.50", "nested": {"ok": True}})]
        ends.append(RunEnd(run, logs, actions, counted=True, strategy_state={"seen": index},
                           last_cycle_ms=7 if index == 0 else None))

    assert executions_rows_end(ends) == {runs[0].pk, runs[1].pk}

    first, second, third = (Execution.objects.get(pk=run.pk) for run in runs)
    assert (first.status, first.error, first.finished_at, first.entries) == ("succeeded", "", at, 0)
    assert (second.status, second.error, second.entries) == ("failed", "boom ✗\n'\"", 1)
    assert first.state_after == {"n": 0, "list": [1.5, None, "é"]}
    assert (third.status, third.error, third.state_after) == ("failed", "lost", None)  # ended before: left alone
    assert list(first.logs.order_by("seq").values_list("seq", "ts", "message")) == [
        (1, at + timedelta(microseconds=1), "line 1 of 0"), (2, at + timedelta(microseconds=2), "line 2 of 0")]
    assert list(second.actions.values_list("kind", "payload")) == [
        ("order_refused", {"size": "10.50", "nested": {"ok": True}})]
    assert not third.logs.exists() and not third.actions.exists()
    counted = {s.pk: s for s in Strategy.objects.filter(pk__in=[s.pk for s in strategies])}
    assert [(counted[s.pk].state, counted[s.pk].runs_total, counted[s.pk].runs_succeeded, counted[s.pk].runs_failed,
             counted[s.pk].last_cycle_ms) for s in strategies[:2]] == [
        ({"seen": 0}, 1, 1, 0, 7), ({"seen": 1}, 1, 0, 1, strategies[1].last_cycle_ms)]
    assert counted[strategies[2].pk].runs_total == 0 and counted[strategies[2].pk].state == strategies[2].state


def _waiting_on_locks() -> int:
    """How many lock requests of this database's sessions are waiting (a claim blocked, not a timer)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first look at the sessions
        cursor.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                       "WHERE NOT l.granted AND a.datname = current_database()")
        return int(cursor.fetchone()[0])


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the claim never reached the state the test waits for"
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_two_claims_racing_for_one_strategy_never_both_run(alice, staff) -> None:
    """Run N claimed at the very end of its interval by one worker while run N+1 is claimed at its slot by another:
    both statements start before either commits, so each finds no other run of the strategy in flight in its
    snapshot. The test makes that certain: it holds run N+1's row, so the claim of N+1 waits inside its statement
    (its snapshot already taken) while the claim of N goes ahead."""
    strategy = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10)
    slot = timezone.now() - timedelta(seconds=20)
    assert strategy.running_version is not None
    previous, run = (Execution.objects.create(strategy=strategy, version=strategy.running_version, trigger="scheduled",
                                              mode=strategy.mode, status="queued", scheduled_for=slot + timedelta(
                                                  seconds=10 * index)) for index in range(2))
    now = run.scheduled_for  # N is exactly one interval late: not past it, still to run
    outcomes: dict[str, list[Execution]] = {}

    def claim(execution: Execution, worker: str) -> None:
        close_old_connections()
        try:
            claimed = executions_claim(execution_ids=[execution.pk], now=now, worker=worker)
            outcomes[worker] = [c.execution for c in claimed.runs] + [skipped for skipped, _ in claimed.skipped]
        finally:
            connection.close()

    late = threading.Thread(target=claim, args=(previous, "late worker"))
    on_time = threading.Thread(target=claim, args=(run, "on-time worker"))
    with transaction.atomic():
        Execution.objects.select_for_update().filter(pk=run.pk).get()
        on_time.start()
        _until(lambda: _waiting_on_locks() >= 1)  # the claim of N+1 waits on the row, its snapshot taken
        late.start()
        _until(lambda: not late.is_alive() or _waiting_on_locks() >= 2)
    late.join()
    on_time.join()

    assert set(outcomes) == {"late worker", "on-time worker"}
    ends = {execution.pk: execution for execution in Execution.objects.filter(pk__in=[previous.pk, run.pk])}
    assert sorted(execution.status for execution in ends.values()) == ["running", "skipped"], ends
    [skipped] = [execution for execution in ends.values() if execution.status == "skipped"]
    assert skipped.error == f"skipped: {BUSY}"
    assert list(skipped.logs.values_list("message", flat=True)) == [f"run skipped: {BUSY}"]


def _rows_read(plan: dict[str, Any]) -> list[tuple[str, int]]:
    """(what it scanned, rows it read in all its loops: returned plus filtered out) for every scan an
    EXPLAIN (ANALYZE, FORMAT JSON) plan ran."""
    reads = []
    if "Index Name" in plan or "Relation Name" in plan:
        read = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0) + plan.get("Rows Removed by Index Recheck", 0)
        if plan["Actual Loops"]:
            reads.append((plan.get("Index Name") or plan["Relation Name"], int(read * plan["Actual Loops"])))
    for child in plan.get("Plans", []):
        reads += _rows_read(child)
    return reads


def _statement_reads(call: Callable[[], object], marker: str, reset: Callable[[], object]) -> list[tuple[str, int]]:
    """Run `call` as a worker does, capturing the statement containing `marker`; `reset` the rows it changed, then
    run that statement again under EXPLAIN ANALYZE (rolled back): what each scan of it read."""
    sent: list[tuple[str, Any]] = []

    def wrapper(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        call()
    [(sql, params)] = [(sql, params) for sql, params in sent if marker in sql]
    reset()
    reads = []
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in sql.split(";\n"):  # a claim is its locks, then the claim
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            [[[explained]]] = cursor.fetchall()
            reads += _rows_read(explained["Plan"])
        transaction.set_rollback(True)
    return reads


def _reads_without_and_with_statistics(call: Callable[[], object], marker: str,
                                       reset: Callable[[], object]) -> list[tuple[str, list[tuple[str, int]]]]:
    """`_statement_reads` on a table the planner has no statistics for (autovacuum has not analyzed it yet: this
    machine's Postgres runs without it), then after `ANALYZE`."""
    without = _statement_reads(call, marker, reset)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strategies_execution")
    return [("no statistics", without), ("analyzed", _statement_reads(call, marker, reset))]


def _busy_table(alice, staff) -> Execution:
    """The next run, queued, of a strategy with 300 finished runs, beside 20 others with 15 runs running and 15 queued
    each."""
    mine = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10)
    others = [deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10, name=f"another {index}")
              for index in range(20)]
    now = timezone.now()
    assert mine.running_version is not None
    history = [Execution(strategy=mine, version=mine.running_version, trigger="scheduled", mode=mine.mode,
                         status="succeeded", scheduled_for=now - timedelta(seconds=10 * (index + 1)),
                         started_at=now - timedelta(seconds=10 * (index + 1)),
                         finished_at=now - timedelta(seconds=10 * index + 9)) for index in range(300)]
    assert all(strategy.running_version is not None for strategy in [mine, *others])
    in_flight = [Execution(strategy=other, version=other.running_version, trigger="manual", mode=other.mode,
                           status="running", scheduled_for=now - timedelta(seconds=index),
                           started_at=now - timedelta(seconds=index)) for other in others for index in range(15)]
    waiting = [Execution(strategy=other, version=other.running_version, trigger="scheduled", mode=other.mode,
                         status="queued", scheduled_for=now - timedelta(seconds=100 + index))
               for other in others for index in range(15)]
    Execution.objects.bulk_create(history + in_flight + waiting)
    return Execution.objects.create(strategy=mine, version=mine.running_version, trigger="scheduled", mode=mine.mode,
                                    status="queued", scheduled_for=now)


def test_a_claim_reads_only_its_own_runs_and_their_strategies_unfinished_ones(alice, staff) -> None:
    """A claim finds its runs by id and asks whether each one's strategy has another cycle running. Its cost must
    not grow with the strategy's history, nor with the other strategies' runs queued or in flight, with or without
    the planner's statistics: at 100 runs a second (bench_schedule.py, 7 December, autovacuum off) the claim read
    every run that had been queued or running since the last vacuum (a dead entry of the `execution_active` index
    each): ≈ 24,000 index entries to find 8 runs, and ≈ 5,000 for each run's overlap check, asked up to six times."""
    run = _busy_table(alice, staff)
    now = run.scheduled_for

    def claim() -> None:
        claimed = executions_claim(execution_ids=[run.pk], now=now, worker="w")
        assert [claim.execution.pk for claim in claimed.runs] == [run.pk]

    for statistics, reads in _reads_without_and_with_statistics(
            claim, "RETURNING e.*", lambda: Execution.objects.filter(pk=run.pk).update(status="queued",
                                                                                       started_at=None, worker="")):
        assert reads and max(rows for _, rows in reads) <= 2, f"{statistics}: {reads}"
        # and the overlap check asked once for the one run, not again for each column the claim sets from it
        assert [name for name, _ in reads].count("execution_active_strategy") == 1, f"{statistics}: {reads}"


def test_an_end_reads_only_its_own_runs(alice, staff) -> None:
    """The end finds its runs by id, not through an index by status, whose dead entries grow with every run since
    the last vacuum: with or without the planner's statistics, it reads no other run."""
    run = _busy_table(alice, staff)
    started = run.scheduled_for
    Execution.objects.filter(pk=run.pk).update(status="running", started_at=started)

    def end() -> None:
        run.refresh_from_db()
        run.status, run.finished_at = "succeeded", started + timedelta(seconds=1)
        assert executions_rows_end([RunEnd(run, counted=True)]) == {run.pk}

    for statistics, reads in _reads_without_and_with_statistics(
            end, "json_to_recordset", lambda: Execution.objects.filter(pk=run.pk).update(status="running",
                                                                                         finished_at=None)):
        assert reads and max(rows for _, rows in reads) <= 2, f"{statistics}: {reads}"
