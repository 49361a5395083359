"""The lean read path (api/lean.py) answers the three hottest routes byte for byte as the DRF views do, in one
or two statements, and a key it has cached stops at once when it is revoked or its user is deactivated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_revoke
from strategies.models import Execution, ExecutionAction, ExecutionLog
from strategies.services import strategy_deploy
from tests.api.conftest import Api, kalshi_files

pytestmark = pytest.mark.django_db

HEADERS = ("Content-Type", "Allow", "Vary", "Content-Length", "X-Frame-Options", "Retry-After")


def runs(owner: Any, staff: Any, *, strategies: int, per_strategy: int) -> tuple[int, int]:
    now = timezone.now()
    executions = []
    for number in range(strategies):
        version = strategy_deploy(owner=owner, files=kalshi_files(name=f"Lean {number:02d} é"), approve_by=staff)
        executions += [Execution(strategy_id=version.strategy_id, version=version, trigger="scheduled", mode="paper",
                                 status="failed" if run % 3 else "succeeded",
                                 scheduled_for=now - timedelta(minutes=run), started_at=now - timedelta(seconds=2),
                                 finished_at=now - timedelta(microseconds=run * 1000 + 7), error="boom ✓" * (run % 3),
                                 state_after={"n": run, "seen": ["a", "ü"], "x": 1.5} if run % 2 else None)
                       for run in range(per_strategy)]
    executions = Execution.objects.bulk_create(executions)
    last = executions[-1]
    ExecutionLog.objects.bulk_create([ExecutionLog(execution=last, seq=seq, ts=now, level="warning",
                                                   message=f"line {seq}\u2028 ✓") for seq in range(3)])
    ExecutionAction.objects.bulk_create([ExecutionAction(execution=last, seq=seq, ts=now, kind="order_refused",
                                                         message="refused", payload={"z": 1, "a": [1.25, None]})
                                         for seq in range(2)])
    return last.strategy_id, last.pk


def both(api: Api, path: str, settings: Any) -> tuple[Any, Any]:
    settings.API_LEAN_READS = True
    lean = api.get(path)
    settings.API_LEAN_READS = False
    drf = api.get(path)
    settings.API_LEAN_READS = True
    return lean, drf


def assert_same(api: Api, path: str, settings: Any) -> Any:
    lean, drf = both(api, path, settings)
    assert lean.status_code == drf.status_code, path
    assert lean.content == drf.content, path
    assert {h: lean.get(h) for h in HEADERS} == {h: drf.get(h) for h in HEADERS}, path
    return lean


def test_the_lean_answers_are_the_drf_answers_byte_for_byte(api, alice, staff, bob, bobs_strategy, settings) -> None:
    strategy_id, execution_id = runs(alice, staff, strategies=3, per_strategy=7)
    for query in ("", "?page=2&page_size=2", "?page_size=2&page=1", "?page=3&page_size=1", "?status=approved",
                  "?mode=paper&platform=kalshi&page_size=500", "?page_size=0", "?page_size=x", "?page=9",
                  "?status=nope", "?page=0", "?page=2", "?status=approved&status=draft", "?other=1"):
        assert_same(api, f"/api/v1/strategies/{query}", settings)
    base = f"/api/v1/strategies/{strategy_id}/executions/"
    first = assert_same(api, f"{base}?page_size=3", settings).json()
    page = assert_same(api, first["next"].removeprefix("http://testserver"), settings).json()
    assert page["previous"] and page["next"]
    back = assert_same(api, page["previous"].removeprefix("http://testserver"), settings).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    last = assert_same(api, page["next"].removeprefix("http://testserver"), settings).json()
    assert last["next"] is None
    for query in ("", "?status=failed", "?trigger=manual", "?status=bad", "?cursor=bad", "?page_size=2&status=failed"):
        assert_same(api, f"{base}{query}", settings)
    assert_same(api, f"/api/v1/strategies/{bobs_strategy.pk}/executions/", settings)
    detail = assert_same(api, f"/api/v1/executions/{execution_id}/", settings).json()
    assert len(detail["logs"]) == 3 and len(detail["actions"]) == 2
    for other in Execution.objects.filter(strategy_id=strategy_id).values_list("pk", flat=True)[:3]:
        assert_same(api, f"/api/v1/executions/{other}/", settings)
    bobs_run = runs(bob, staff, strategies=1, per_strategy=1)[1]
    assert_same(api, f"/api/v1/executions/{bobs_run}/", settings)  # 404 either way
    assert_same(Api(Client(), "shk_nope_nope"), "/api/v1/strategies/", settings)  # 401 either way
    assert_same(Api(Client(), None), "/api/v1/strategies/", settings)


def test_the_lean_routes_cost_one_statement_and_the_detail_two(api, alice, staff) -> None:
    strategy_id, execution_id = runs(alice, staff, strategies=2, per_strategy=5)
    for path, statements in (("/api/v1/strategies/", 1), (f"/api/v1/strategies/{strategy_id}/executions/", 1),
                             (f"/api/v1/executions/{execution_id}/", 2)):
        api.get(path)  # the key is verified (and cached) once
        with CaptureQueriesContext(connection) as captured:
            assert api.get(path).status_code == 200
        assert len(captured.captured_queries) == statements, path


def test_a_cached_key_stops_at_once_when_revoked(api, agent_key) -> None:
    assert api.get("/api/v1/strategies/").status_code == 200  # now cached in this process
    api_key_revoke(api_key=ApiKey.objects.get(prefix=agent_key.split("_")[1]))
    response = api.get("/api/v1/strategies/")
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_failed"


def test_a_cached_key_stops_at_once_when_its_user_is_deactivated(api, alice) -> None:
    assert api.get("/api/v1/strategies/").status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert api.get("/api/v1/strategies/").status_code == 401


def test_a_lean_read_is_throttled_once_per_request(api, settings) -> None:
    settings.API_THROTTLE_RATES = {"read": "3/min", "write": "3/min"}
    codes = [api.get("/api/v1/strategies/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.get("/api/v1/strategies/?page=x")  # handed to DRF: still throttled, in the one shape
    assert response.status_code == 429 and response.json()["error"]["type"] == "throttled"
    assert int(response["Retry-After"]) > 0
