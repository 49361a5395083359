"""Scheduled cycles run in warm sessions (runtime/warm.py, docs/sandbox.md); Test Runs and manual runs stay cold."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from runtime.warm import shared_sessions
from strategies.cycle.run import execution_run, execution_start
from strategies.models import Execution, Strategy
from strategies.scheduling import strategies_tick
from strategies.services import strategy_deploy

pytestmark = pytest.mark.django_db

CONFIG = {"thesis": "counts its cycles", "platform": "kalshi", "polling_interval": 60,
          "capital": {"total_capital": 1000, "capital_per_trade": 10, "max_positions": 1, "max_position_size": 10,
                      "max_daily_loss": 10, "sizing_method": "fixed"}}
FILES = {
    "entry.py": "SEEN = []\ndef should_enter(ctx):\n    SEEN.append(1)\n"
                "    ctx.state['cycles'] = ctx.state.get('cycles', 0) + 1\n"
                "    ctx.log(f'globals {len(SEEN)} cycles {ctx.state[\"cycles\"]}')\n    return []\n",
    "exit.py": "def should_exit(ctx, position):\n    return None\n",
}


@pytest.fixture
def approved(alice, staff) -> Strategy:
    files = {**FILES, "config.json": json.dumps({**CONFIG, "name": "warm counter"})}
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    strategy.refresh_from_db()
    return strategy


def scheduled_cycle(strategy: Strategy, capture) -> Execution:
    strategy.refresh_from_db()
    assert strategy.next_run_at is not None
    enqueued: list[int] = []
    with capture(execute=True):
        strategies_tick(enqueue=enqueued.append, now=strategy.next_run_at + timedelta(milliseconds=100))
    assert len(enqueued) == 1
    execution = execution_start(execution_id=enqueued[0])
    assert execution is not None
    execution.refresh_from_db()
    return execution


def messages(execution: Execution) -> list[str]:
    return [line.message for line in execution.logs.order_by("seq") if line.level != "system"]


def test_scheduled_cycles_share_a_warm_session_and_only_ctx_state(
    approved, django_capture_on_commit_callbacks
) -> None:
    sessions = shared_sessions()
    started = sessions.started
    first = scheduled_cycle(approved, django_capture_on_commit_callbacks)
    second = scheduled_cycle(approved, django_capture_on_commit_callbacks)
    assert (first.status, second.status) == ("succeeded", "succeeded"), (first.error, second.error)
    assert "globals 1 cycles 1" in messages(first)
    assert "globals 1 cycles 2" in messages(second)  # the module ran anew; ctx.state carried over
    assert sessions.started == started + 1
    assert any(key[:2] == (approved.owner_id, approved.running_version_id) for key in sessions.sessions)


def test_test_runs_and_manual_runs_stay_cold(approved) -> None:
    sessions = shared_sessions()
    started = sessions.started
    for trigger, dry_run in ((Execution.Trigger.DRY_RUN, True), (Execution.Trigger.MANUAL, False)):
        execution = execution_run(strategy_id=approved.pk, trigger=trigger, dry_run=dry_run)
        assert execution.status == "succeeded", execution.error
    assert sessions.started == started
