"""The main read routes cost a fixed number of queries, whatever the number of rows they answer with (no N+1).

Each route is read over a small and a large history; the queries per request must be the same, and few.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strategies.models import Execution, ExecutionAction, ExecutionLog
from strategies.services import strategy_deploy
from tests.api.conftest import kalshi_files

pytestmark = pytest.mark.django_db

# The lean read path (api/lean.py): the key from the process's cache, then one statement (the strategies' page with
# its count, the runs with their owner's check), two for a run (the run, then its lines and actions).
EXPECTED = {"strategies": 1, "executions": 1, "execution": 2}


def history(owner: Any, staff: Any, *, name: str, strategies: int, runs: int, lines: int) -> tuple[int, int]:
    now = timezone.now()
    strategy_ids, executions = [], []
    for number in range(strategies):
        version = strategy_deploy(owner=owner, files=kalshi_files(name=f"{name} {number}"), approve_by=staff)
        strategy_ids.append(version.strategy_id)
        executions += [Execution(strategy_id=version.strategy_id, version=version, trigger="scheduled", mode="paper",
                                 status="failed", scheduled_for=now - timedelta(minutes=run), started_at=now,
                                 finished_at=now, error="boom", state_after={"n": run}) for run in range(runs)]
    executions = Execution.objects.bulk_create(executions)
    ExecutionLog.objects.bulk_create([ExecutionLog(execution=e, seq=seq, ts=now, message=f"line {seq}")
                                      for e in executions for seq in range(lines)])
    ExecutionAction.objects.bulk_create([ExecutionAction(execution=e, seq=seq, ts=now, kind="order_refused",
                                                         message="refused") for e in executions for seq in range(lines)])
    return strategy_ids[-1], executions[-1].pk


def queries(api: Any, path: str) -> int:
    api.get(path)  # the key's last_used_at is written once a minute: not on the measured request
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def counts(api: Any, strategy_id: int, execution_id: int) -> dict[str, int]:
    return {"strategies": queries(api, "/api/v1/strategies/"),
            "executions": queries(api, f"/api/v1/strategies/{strategy_id}/executions/"),
            "execution": queries(api, f"/api/v1/executions/{execution_id}/")}


def test_read_routes_cost_the_same_queries_for_one_row_or_many(api, alice, staff) -> None:
    assert counts(api, *history(alice, staff, name="Small", strategies=1, runs=1, lines=1)) == EXPECTED
    assert counts(api, *history(alice, staff, name="Large", strategies=12, runs=40, lines=8)) == EXPECTED


def test_with_the_lean_path_off_drf_answers_in_a_few_queries_too(api, alice, staff, settings) -> None:
    settings.API_LEAN_READS = False  # authentication (key and user in one), the route's reads, a page's count
    ids = history(alice, staff, name="Drf", strategies=3, runs=5, lines=2)
    assert counts(api, *ids) == {"strategies": 3, "executions": 3, "execution": 4}
