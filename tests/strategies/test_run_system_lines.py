"""Every run gets the worker's own log lines (level `system`): started, its signals, its orders placed or refused,
how it finished and in how many ms, in the live log and the history, even a Test Run of a script that logs
nothing (issue 24, item 11)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from strategies.cycle.run import execution_run
from strategies.models import Execution
from strategies.services import strategy_deploy
from tests.api.test_actions import BUYER
from tests.conftest import example_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

SILENT_ENTRY = "def should_enter(ctx):\n    return []\n"
SILENT_EXIT = "def should_exit(ctx, position):\n    return None\n"


def files(entry: str, **capital: int) -> dict[str, str]:
    files = example_files("kalshi_favourite_longshot")
    files["entry.py"], files["exit.py"] = entry, SILENT_EXIT
    config = json.loads(files["config.json"])
    config["capital"].update(capital)
    files["config.json"] = json.dumps(config)
    return files


def lines(execution: Execution) -> list[tuple[str, str]]:
    return [(line.level, line.message) for line in execution.logs.order_by("seq")]


def test_a_test_run_of_a_silent_script_still_has_its_lines(alice) -> None:
    strategy = strategy_deploy(owner=alice, files=files(SILENT_ENTRY)).strategy
    execution = execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.DRY_RUN, dry_run=True)
    execution.refresh_from_db()
    assert execution.status == "succeeded"
    assert lines(execution) == [
        ("system", "run started: dry run, paper, version 1"),
        ("system", "0 entry signals, 0 exit signals; orders: none"),
        ("system", f"run succeeded in {execution.duration_ms} ms"),
    ]
    client = Client()
    client.force_login(alice)
    [event] = client.get(f"/strategies/{strategy.pk}/activity.json").json()["executions"]
    assert [(line["level"], line["message"]) for line in event["logs"]] == lines(execution)
    live = client.get(f"/strategies/{strategy.pk}/live/").content.decode()
    assert "No runs yet" not in live


def test_orders_placed_and_refused_are_counted(alice, staff) -> None:
    # max_positions 1: the second of two signals on two markets is refused.
    two = BUYER.replace(
        'return [EntrySignal(market_id="KXSIMFED-26DEC31-T4.00"',
        'return [EntrySignal(market_id="KXSIMFED-26DEC31-T4.25", side="yes", reason="second", confidence=0.7, '
        'limit_price=0.65), EntrySignal(market_id="KXSIMFED-26DEC31-T4.00"')
    strategy = strategy_deploy(owner=alice, files=files(two, max_positions=1), approve_by=staff).strategy
    execution = execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.MANUAL)
    execution.refresh_from_db()
    kinds = sorted(action.kind for action in execution.actions.all())
    assert execution.status == "succeeded" and kinds == ["order_placed", "order_refused"], execution.error
    messages = [message for level, message in lines(execution) if level == "system"]
    assert messages[0] == "run started: manual, paper, version 1"
    assert messages[-2:] == ["2 entry signals, 0 exit signals; orders: 1 placed, 1 refused",
                             f"run succeeded in {execution.duration_ms} ms"]
    assert ("info", "buying the fed market") in lines(execution)  # the script's own line, between them


def test_a_failed_run_says_why_in_its_last_line(alice) -> None:
    strategy = strategy_deploy(owner=alice, files=files("def should_enter(ctx):\n    return 1 / 0\n")).strategy
    execution = execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.DRY_RUN, dry_run=True)
    execution.refresh_from_db()
    assert execution.status == "failed"
    last = lines(execution)[-1]
    assert last[0] == "system" and last[1].startswith(f"run failed in {execution.duration_ms} ms: ")
    assert "ZeroDivisionError" in last[1]
