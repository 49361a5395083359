"""A strategy's runs (cursor-paginated, filtered) and one run with its logs, actions, error and state."""

from __future__ import annotations

import pytest

from strategies.cycle.run import execution_run
from strategies.models import Execution
from strategies.services import strategy_deploy
from tests.api.conftest import error, kalshi_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

COUNTER = """\
def should_enter(ctx):
    ctx.state["runs"] = ctx.state.get("runs", 0) + 1
    if ctx.state["runs"] == 2:
        raise RuntimeError("second run fails")
    ctx.log(f"run {ctx.state['runs']}")
    return []
"""


@pytest.fixture
def ran(alice, staff):
    files = kalshi_files()
    files["entry.py"] = COUNTER
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    runs = [execution_run(strategy_id=strategy.pk, trigger="manual") for _ in range(3)]
    runs.append(execution_run(strategy_id=strategy.pk, trigger="manual", dry_run=True))
    return strategy, runs


def test_runs_are_listed_newest_first_with_a_cursor(api, ran) -> None:
    strategy, runs = ran
    page = api.get(f"/api/v1/strategies/{strategy.pk}/executions/?page_size=3").json()
    assert [r["id"] for r in page["results"]] == [str(r.pk) for r in reversed(runs)][:3]
    assert page["next"] and page["previous"] is None
    rest = api.get(page["next"]).json()
    assert [r["id"] for r in rest["results"]] == [str(runs[0].pk)]


def test_runs_filter_by_status_and_trigger(api, ran) -> None:
    strategy, runs = ran
    failed = api.get(f"/api/v1/strategies/{strategy.pk}/executions/?status=failed").json()["results"]
    assert [r["id"] for r in failed] == [str(runs[1].pk)] and "second run fails" in failed[0]["error"]
    dry = api.get(f"/api/v1/strategies/{strategy.pk}/executions/?trigger=dry_run").json()["results"]
    assert [r["id"] for r in dry] == [str(runs[3].pk)]
    response = api.get(f"/api/v1/strategies/{strategy.pk}/executions/?trigger=cron")
    assert response.status_code == 400 and error(response)["issues"][0]["path"] == "trigger"


def test_a_forged_cursor_is_404_not_a_crash(api, ran) -> None:
    strategy, _ = ran
    for cursor in ("cD1hYmM=", "cD0xMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1"):  # p=abc, p=<a 33-digit id>
        response = api.get(f"/api/v1/strategies/{strategy.pk}/executions/?cursor={cursor}")
        assert response.status_code == 404, cursor
        assert error(response)["type"] == "not_found"
    for cursor in ("%00", "!!", "bm90IGEgY3Vyc29y"):  # undecodable, or no position: the first page
        assert api.get(f"/api/v1/strategies/{strategy.pk}/executions/?cursor={cursor}").status_code in (200, 404)


def test_one_run_has_logs_actions_error_and_state_after(api, ran) -> None:
    _, runs = ran
    ok = api.get(f"/api/v1/executions/{runs[2].pk}/").json()
    assert ok["status"] == "succeeded" and ok["state_after"] == {"runs": 3}
    assert [line["message"] for line in ok["logs"] if line["level"] != "system"] == ["run 3"]
    failed = api.get(f"/api/v1/executions/{runs[1].pk}/").json()
    assert failed["status"] == "failed" and "RuntimeError: second run fails" in failed["error"]
    assert 'entry.py", line 4' in failed["error"]


def test_another_users_run_is_404(api, bobs_strategy) -> None:
    theirs = execution_run(strategy_id=bobs_strategy.pk, trigger="manual", dry_run=True)
    assert api.get(f"/api/v1/executions/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/strategies/{bobs_strategy.pk}/executions/").status_code == 404
    assert Execution.objects.filter(pk=theirs.pk).exists()
