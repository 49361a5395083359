"""`strategy_run`: one cycle through the worker's code path, persisted with logs, actions and state."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

COUNTER_ENTRY = """
from strategies.sdk import EntrySignal


async def should_enter(ctx):
    runs = ctx.state.get("runs", 0) + 1
    ctx.state["runs"] = runs
    ctx.log(f"run {runs}, {len(ctx.positions)} positions, {ctx.capital.available} available")
    print("printed lines become log lines")
    return [EntrySignal(market_id="KXSIMFED-26DEC31-T4.00", side="yes", reason="test", confidence=0.7, limit_price=0.6)]
"""
NO_EXIT = "def should_exit(ctx, position):\n    return None\n"


def deploy(owner, *, entry: str = COUNTER_ENTRY, approve_by=None, **config: Any) -> Strategy:
    files = scripts_files(**config)
    files["entry.py"], files["exit.py"] = entry, NO_EXIT
    return strategy_deploy(owner=owner, files=files, approve_by=approve_by).strategy


def run(strategy_id: int, *flags: str) -> dict[str, Any]:
    out = StringIO()
    call_command("strategy_run", str(strategy_id), "--json", *flags, stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_a_cycle_records_logs_actions_and_state(alice, staff) -> None:
    strategy = deploy(alice, approve_by=staff)
    result = run(strategy.pk)
    assert result["status"] == "succeeded", result["error"]
    assert (result["trigger"], result["mode"], result["entries"], result["exits"]) == ("manual", "paper", 1, 0)
    messages = [line["message"] for line in result["logs"] if line["level"] != "system"]
    assert result["logs"][0]["message"] == "run started: manual, paper, version 1"  # the worker's own lines frame it
    assert result["logs"][-1]["message"] == f"run succeeded in {result['duration_ms']} ms"
    assert messages[:2] == ["run 1, 0 positions, 2000.0 available", "printed lines become log lines"]
    assert [line["seq"] for line in result["logs"]] == list(range(1, len(result["logs"]) + 1))
    [action] = result["actions"]
    assert action["kind"] == "order_placed"  # a paper order, filled against the simulator's book
    assert action["payload"]["market_id"] == "KXSIMFED-26DEC31-T4.00"
    assert result["state"] == {"runs": 1}
    assert isinstance(result["duration_ms"], int)
    execution = Execution.objects.get(pk=result["id"])
    assert execution.logs.count() == len(result["logs"]) and execution.actions.count() == 1
    strategy.refresh_from_db()
    assert strategy.state == {"runs": 1}
    assert (strategy.runs_total, strategy.runs_succeeded, strategy.runs_failed) == (1, 1, 0)
    second = run(strategy.pk)
    assert second["state"] == {"runs": 2}  # state is kept between cycles
    assert second["logs"][1]["message"].startswith("run 2, 1 positions")


def test_a_dry_run_records_would_be_orders_and_keeps_the_state(alice) -> None:
    strategy = deploy(alice)  # not approved: a test run is how a reviewer sees what it would do
    result = run(strategy.pk, "--dry-run")
    assert (result["status"], result["trigger"]) == ("succeeded", "dry_run")
    assert [a["kind"] for a in result["actions"]] == ["order_would_place"]
    strategy.refresh_from_db()
    assert strategy.state == {} and strategy.runs_total == 0


def test_a_failing_script_records_the_error_with_its_own_traceback(alice, staff) -> None:
    entry = "def should_enter(ctx):\n    ctx.log('before')\n    return helper()\n\n\ndef helper():\n    return 1 / 0\n"
    strategy = deploy(alice, entry=entry, approve_by=staff)
    result = run(strategy.pk)
    assert result["status"] == "failed"
    assert "ZeroDivisionError" in result["error"]
    assert 'File "entry.py", line 7, in helper' in result["error"]
    assert "site-packages" not in result["error"] and "/runtime/" not in result["error"]
    assert [line["message"] for line in result["logs"] if line["level"] != "system"] == ["before"]
    strategy.refresh_from_db()
    assert (strategy.runs_total, strategy.runs_failed) == (1, 1)


def test_a_bad_signal_fails_the_run_naming_the_field(alice, staff) -> None:
    # The side comes from a parameter: a literal side='buy' on Kalshi is refused at deploy time already.
    entry = ("from strategies.sdk import EntrySignal\n\ndef should_enter(ctx):\n"
             "    return [EntrySignal(market_id='X', side=ctx.params.get('side', 'buy'), reason='r')]\n")
    result = run(deploy(alice, entry=entry, approve_by=staff).pk)
    assert result["status"] == "failed"
    assert "side" in result["error"] and "'buy'" in result["error"]


def test_an_unapproved_strategy_does_not_run_for_real(alice) -> None:
    strategy = deploy(alice)
    with pytest.raises(CommandError, match="is not approved") as caught:
        run(strategy.pk)
    assert caught.value.returncode == 1
    assert Execution.objects.count() == 0


def test_an_unknown_id_exits_non_zero_with_the_reason() -> None:
    with pytest.raises(CommandError, match="no strategy with id 999999") as caught:
        run(999999)
    assert caught.value.returncode == 1


def test_a_call_to_another_venue_is_refused(alice, staff) -> None:
    entry = "def should_enter(ctx):\n    ctx.polymarket.get_midpoint(token_id='1')\n    return []\n"
    result = run(deploy(alice, entry=entry, approve_by=staff).pk)
    assert result["status"] == "failed"
    assert "ctx.polymarket is not available: polymarket is not in risk_limits.allowed_services (kalshi)" in result[
        "error"]


def test_the_json_answer_is_the_stored_rows_in_order(alice, staff) -> None:
    """The answer is read back with one hand-written statement (issue 23): it must say what the ORM reads, each
    timestamp to the microsecond, each payload as the JSON object stored, lines and actions each by sequence."""
    strategy = deploy(alice, approve_by=staff)
    for flags in ((), ("--dry-run",)):
        result = run(strategy.pk, *flags)
        execution = Execution.objects.get(pk=result["id"])
        assert result["logs"] == [
            {"seq": line.seq, "ts": line.ts.isoformat(), "level": line.level, "message": line.message}
            for line in execution.logs.order_by("seq")]
        assert result["actions"] == [
            {"seq": a.seq, "ts": a.ts.isoformat(), "kind": a.kind, "message": a.message, "payload": a.payload}
            for a in execution.actions.order_by("seq")]
        assert len(result["logs"]) >= 4 and len(result["actions"]) == 1
        assert isinstance(result["actions"][0]["payload"], dict)
        assert (execution.worker, execution.mode, execution.started_at) != ("", "", None)
        assert execution.created_at is not None and execution.scheduled_for == execution.started_at


def test_a_dry_run_sees_the_positions_a_real_run_opened(alice, staff) -> None:
    """A dry run learns whether the paper ledger is empty from the statement that reads its strategy: a strategy
    with a position must still see it (and one without, none)."""
    strategy = deploy(alice, approve_by=staff)
    assert run(strategy.pk, "--dry-run")["logs"][1]["message"].startswith("run 1, 0 positions")
    assert run(strategy.pk)["status"] == "succeeded"  # a paper order, filled: one position
    dry = run(strategy.pk, "--dry-run")
    assert dry["logs"][1]["message"].startswith("run 2, 1 positions"), dry["logs"]


def test_a_changed_sandbox_setting_applies_to_the_next_run(alice, settings) -> None:
    """The worker keeps `settings.SANDBOX` as limits between runs (issue 23): a changed setting must still reach the
    next run."""
    strategy = deploy(alice, entry="import time\n\ndef should_enter(ctx):\n    time.sleep(1.2)\n    return []\n")
    assert run(strategy.pk, "--dry-run")["status"] == "succeeded"
    settings.SANDBOX = {**settings.SANDBOX, "wall_seconds": 1}
    assert run(strategy.pk, "--dry-run")["status"] == "timed_out"
