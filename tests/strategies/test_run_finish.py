"""Every run ends in one finish path: failed with the real reason, persisted and broadcast, whatever the
script sent back or the worker met; none is left `running` for recovery to call "worker lost"."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from strategies.cycle.run import execution_run
from strategies.events import strategy_group
from strategies.models import Execution
from tests.strategies.test_strategy_run import deploy

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

# The SDK refuses 10**400 as a size; a script can still forge the signal it returns (its code runs beside
# the runtime's), so the worker meets a number no float can hold.
FORGED_SIZE = """
from strategies.sdk import EntrySignal


def should_enter(ctx):
    signal = EntrySignal(market_id="KXSIMFED-26DEC31-T4.00", side="yes", reason="test", confidence=0.7,
                         limit_price=0.6, size_usd=10)
    object.__setattr__(signal, "size_usd", 10**400)
    return [signal]
"""
# Valid JSON that Postgres cannot store in a jsonb column.
UNSTORABLE_STATE = """
def should_enter(ctx):
    ctx.state["note"] = "nul: \\x00"
    return []
"""


def run_and_listen(strategy_id: int, capture: Any) -> tuple[Execution, dict[str, Any]]:
    """Run a cycle through `execution_run` while listening on the strategy's group, as a follower would."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(strategy_group(strategy_id), channel)
    with capture(execute=True):
        execution = execution_run(strategy_id=strategy_id, trigger=Execution.Trigger.MANUAL)
    message = async_to_sync(layer.receive)(channel)
    return Execution.objects.get(pk=execution.pk), message["event"]


@pytest.fixture(autouse=True)
def _redis(redis_url: str) -> None:
    pass


def test_a_forged_astronomical_size_fails_the_run_with_the_reason(
        alice, staff, django_capture_on_commit_callbacks) -> None:
    strategy = deploy(alice, entry=FORGED_SIZE, approve_by=staff)
    execution, event = run_and_listen(strategy.pk, django_capture_on_commit_callbacks)
    assert execution.status == "failed" and execution.finished_at is not None
    assert "invalid signal: OverflowError: int too large to convert to float" in execution.error
    assert (event["execution"]["id"], event["execution"]["status"]) == (str(execution.pk), "failed")
    strategy.refresh_from_db()
    assert (strategy.runs_total, strategy.runs_failed) == (1, 1)


def test_a_result_the_database_cannot_store_fails_the_run_with_the_reason(
        alice, staff, django_capture_on_commit_callbacks) -> None:
    strategy = deploy(alice, entry=UNSTORABLE_STATE, approve_by=staff)
    execution, event = run_and_listen(strategy.pk, django_capture_on_commit_callbacks)
    assert execution.status == "failed" and execution.finished_at is not None
    assert execution.error.startswith("the run's result could not be stored: ")
    assert execution.state_after is None
    assert event["execution"]["status"] == "failed"
    strategy.refresh_from_db()
    assert strategy.state == {}  # the old state is kept
