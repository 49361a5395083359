"""The approved version keeps running until a newer one is approved (issue 24, item 3): scheduled cycles, Run now,
the API and the dashboard run and show `running_version` while the newest waits; approving the newest switches to
it from the next slot; rejecting it leaves the approved one running."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.services import api_key_issue
from strategies.cycle.run import execution_run, execution_start
from strategies.models import Execution, Strategy, StrategyVersion
from strategies.scheduling import strategies_tick
from strategies.selectors import strategy_badge
from strategies.services import (
    strategy_deploy,
    strategy_version_approve,
    strategy_version_create,
    strategy_version_reject,
)
from tests.api.conftest import Api
from tests.conftest import example_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]


def says(word: str) -> dict[str, str]:
    """The Kalshi example whose entry logs which version runs, and trades nothing."""
    return {**example_files("kalshi_favourite_longshot"),
            "entry.py": f"def should_enter(ctx):\n    ctx.log('running {word}')\n    return []\n",
            "exit.py": "def should_exit(ctx, position):\n    return None\n"}


@pytest.fixture
def running(alice, staff) -> Strategy:
    strategy = strategy_deploy(owner=alice, files=says("v1"), approve_by=staff).strategy
    strategy.refresh_from_db()
    return strategy


def scheduled_cycle(strategy: Strategy, capture) -> Execution:
    """The strategy's next slot, ticked and run as the beat and a worker do."""
    strategy.refresh_from_db()
    assert strategy.next_run_at is not None
    enqueued: list[int] = []
    with capture(execute=True):
        strategies_tick(enqueue=enqueued.append, now=strategy.next_run_at + timedelta(milliseconds=10))
    [execution_id] = enqueued
    execution = execution_start(execution_id=execution_id)
    assert execution is not None
    return execution


def logged(execution: Execution) -> list[str]:
    return [line.message for line in execution.logs.order_by("seq")]


def test_the_approved_version_keeps_running_while_the_next_waits_and_approval_switches(
        running, alice, staff, django_capture_on_commit_callbacks) -> None:
    config = json.loads(says("v2")["config.json"])
    config["parameters"] = {**config.get("parameters", {}), "note": "v2's"}
    v2, created = strategy_version_create(strategy=running, owner=alice, files={**says("v2"),
                                                                               "config.json": json.dumps(config)})
    assert created and v2.number == 2
    running.refresh_from_db()
    assert (running.status, running.current_version_id, running.running_version.number) == ("pending_approval",
                                                                                            v2.pk, 1)
    assert "note" not in running.config.get("parameters", {})  # it still reads as the version that runs

    waiting = scheduled_cycle(running, django_capture_on_commit_callbacks)
    assert (waiting.status, waiting.version.number) == ("succeeded", 1), waiting.error
    assert "running v1" in logged(waiting)
    assert "running v2" in logged(execution_run(strategy_id=running.pk, trigger="dry_run", dry_run=True))

    strategy_version_approve(version=v2, by=staff)
    running.refresh_from_db()
    assert (running.status, running.running_version_id, running.config["parameters"]["note"]) == (
        "approved", v2.pk, "v2's")
    switched = scheduled_cycle(running, django_capture_on_commit_callbacks)
    assert (switched.status, switched.version.number) == ("succeeded", 2), switched.error
    assert "running v2" in logged(switched)


def test_rejecting_the_next_version_leaves_the_approved_one_running(
        running, alice, staff, django_capture_on_commit_callbacks) -> None:
    v2, _ = strategy_version_create(strategy=running, owner=alice, files=says("v2"))
    strategy_version_reject(version=v2, by=staff, reason="it stops trading")
    running.refresh_from_db()
    assert running.status == "rejected" and running.running_version.number == 1 and running.next_run_at is not None
    execution = scheduled_cycle(running, django_capture_on_commit_callbacks)
    assert (execution.status, execution.version.number) == ("succeeded", 1)
    assert "running v1" in logged(execution)


def test_a_run_queued_before_another_version_was_approved_is_skipped(
        running, alice, staff, django_capture_on_commit_callbacks) -> None:
    running.refresh_from_db()
    enqueued: list[int] = []
    with django_capture_on_commit_callbacks(execute=True):
        strategies_tick(enqueue=enqueued.append, now=running.next_run_at)
    v2, _ = strategy_version_create(strategy=running, owner=alice, files=says("v2"))
    strategy_version_approve(version=v2, by=staff)
    execution = execution_start(execution_id=enqueued[0])
    assert execution is not None and execution.status == "skipped"
    assert "another version was approved" in execution.error  # v1's slot does not run v2 unannounced


def test_the_api_and_the_dashboard_say_which_version_runs_and_which_waits(running, alice, client) -> None:
    strategy_version_create(strategy=running, owner=alice, files=says("v2"))
    api = Api(Client(), api_key_issue(user=alice))
    body = api.get(f"/api/v1/strategies/{running.pk}/").json()
    assert (body["version"], body["running_version"], body["status"]) == (2, 1, "pending_approval")
    versions = api.get(f"/api/v1/strategies/{running.pk}/versions/").json()
    assert [(v["number"], v["is_current"], v["is_running"]) for v in versions] == [(2, True, False), (1, False, True)]
    client.force_login(alice)
    page = client.get(f"/strategies/{running.pk}/").content.decode()
    assert "Active" in page and "v2 waits for approval" in page and "runs v1" in page
    assert "running</span>" in client.get(f"/strategies/{running.pk}/versions/").content.decode()


def test_a_live_strategy_keeps_its_live_approved_version_until_the_next_is_approved_for_live(alice, staff) -> None:
    v1 = strategy_deploy(owner=alice, files=says("v1"), mode="live", approve_by=staff)
    # Graduation is the live approval's business, tested there; here v1 is simply recorded as approved for live.
    StrategyVersion.objects.filter(pk=v1.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    strategy = Strategy.objects.get(pk=v1.strategy_id)
    assert strategy.running_version_id == v1.pk
    v2, _ = strategy_version_create(strategy=strategy, owner=alice, files=says("v2"))
    strategy_version_approve(version=v2, by=staff)  # for paper only: not yet what a live strategy may run
    strategy.refresh_from_db()
    assert (strategy.status, strategy.running_version_id) == ("approved", v1.pk)
    assert strategy_badge(strategy).detail == "v2 waits for live approval"


def test_the_approval_queue_says_which_version_runs_while_the_next_waits(running, alice, client) -> None:
    strategy_version_create(strategy=running, owner=alice, files=says("v2"))
    client.force_login(get_user_model().objects.create_superuser("boss"))
    page = client.get("/admin/strategies/strategy/").content.decode()
    assert "v2 (v1 runs)" in page
