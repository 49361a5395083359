"""POST/GET /api/v1/strategies/: deploy with a smoke dry run, identical files, validation, list and detail."""

from __future__ import annotations

import json

import pytest

from chatfiles.models import ChatFile
from strategies.models import Execution, Strategy, StrategyVersion
from strategies.services import strategy_deploy, strategy_version_approve
from tests.api.conftest import config_with_raw, error, kalshi_files
from tests.conftest import example_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

FAILING_ENTRY = """\
def should_enter(ctx):
    markets = ctx.params["tickers"]
    return [1 / 0 for _ in markets]
"""


def test_it_deploys_inline_files_and_answers_with_a_smoke_run(api) -> None:
    response = api.post("/api/v1/strategies/", {"files": kalshi_files(), "chat_id": "c1"})
    assert response.status_code == 201
    body = response.json()
    for key in ("id", "name", "status", "mode", "enabled", "version", "polling_interval", "next_run_at",
                "dashboard_url"):
        assert key in body
    assert (body["status"], body["mode"], body["version"], body["created"]) == ("pending_approval", "paper", 1, True)
    smoke = body["smoke"]
    assert smoke["status"] == "succeeded", smoke
    assert smoke["logs"][1]["message"].startswith("scanned ")  # after the worker's "run started"
    execution = Execution.objects.get(pk=smoke["execution_id"])
    assert (execution.trigger, execution.strategy_id) == ("dry_run", int(body["id"]))
    assert set(ChatFile.objects.filter(chat_id="c1").values_list("filename", flat=True)) == {
        "config.json", "entry.py", "exit.py"}


def test_the_smoke_run_reports_the_scripts_own_traceback(api) -> None:
    files = kalshi_files()
    files["entry.py"] = FAILING_ENTRY
    response = api.post("/api/v1/strategies/", {"files": files})
    assert response.status_code == 201  # deployed: the smoke run is feedback, not a refusal
    smoke = response.json()["smoke"]
    assert smoke["status"] == "failed"
    assert "ZeroDivisionError" in smoke["error"] and 'entry.py", line 3' in smoke["error"]


def test_it_deploys_uploaded_files_by_id(api) -> None:
    ids = [api.post("/api/v1/files/", {"filename": name, "content": text}).json()["id"]
           for name, text in kalshi_files().items()]
    response = api.post("/api/v1/strategies/", {"file_ids": [int(i) for i in ids]})
    assert response.status_code == 201, response.json()
    version = StrategyVersion.objects.get(strategy_id=response.json()["id"])
    assert sorted(str(f.pk) for f in version.files.all()) == sorted(ids)


def test_identical_files_again_are_200_and_the_same_version(api) -> None:
    first = api.post("/api/v1/strategies/", {"files": kalshi_files()}).json()
    again = api.post("/api/v1/strategies/", {"files": kalshi_files()})
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["version"], again.json()["created"]) == (first["id"], 1, False)
    assert StrategyVersion.objects.count() == 1


def test_a_deploy_with_a_name_in_use_is_a_409_naming_the_strategy_and_leaves_it_running(api, staff) -> None:
    first = api.post("/api/v1/strategies/", {"files": kalshi_files()}).json()
    strategy_version_approve(version=StrategyVersion.objects.get(strategy_id=first["id"]), by=staff)
    response = api.post("/api/v1/strategies/", {"files": kalshi_files(polling_interval=600)})
    assert response.status_code == 409
    body = error(response)
    assert body["type"] == "name_taken"
    assert [(i["file"], i["path"]) for i in body["issues"]] == [("config.json", "name")]
    assert f"strategy {first['id']}" in body["message"]
    assert f"POST /api/v1/strategies/{first['id']}/versions/" in body["message"]
    strategy = Strategy.objects.get(pk=first["id"])
    assert (strategy.status, strategy.current_version_id, strategy.polling_interval) == (
        "approved", StrategyVersion.objects.get().pk, 300)
    assert StrategyVersion.objects.count() == 1


def test_it_reports_every_validation_issue_at_once_with_file_and_path(api) -> None:
    files = kalshi_files(polling_interval=2, platform="kalshy")
    config = json.loads(files["config.json"])
    config["capital"]["max_positions"] = "five"
    files["config.json"] = json.dumps(config)
    files["exit.py"] = "def should_exit(ctx):\n    return None\n"
    response = api.post("/api/v1/strategies/", {"files": files})
    assert response.status_code == 400
    body = error(response)
    assert body["type"] == "validation_error"
    by_path = {(i["file"], i["path"]): i for i in body["issues"]}
    assert {("config.json", "polling_interval"), ("config.json", "platform"),
            ("config.json", "capital.max_positions")} <= set(by_path)
    assert 'got "five"' in by_path[("config.json", "capital.max_positions")]["message"]
    [exit_issue] = [i for i in body["issues"] if i["file"] == "exit.py"]
    assert exit_issue["line"] == 1
    assert not Strategy.objects.exists()


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_number_that_is_not_finite_is_a_validation_error_naming_the_field(api, raw: str) -> None:
    response = api.post("/api/v1/strategies/", {"files": config_with_raw("capital.total_capital", raw)})
    assert response.status_code == 400, response.content
    body = error(response)
    assert body["type"] == "validation_error"
    assert [(i["file"], i["path"]) for i in body["issues"]] == [("config.json", "capital.total_capital")]
    assert "finite number" in body["message"]
    assert not Strategy.objects.exists()


def test_a_capital_too_large_for_the_ledger_is_out_of_range(api) -> None:
    response = api.post("/api/v1/strategies/", {"files": config_with_raw("capital.total_capital", "1e308")})
    assert response.status_code == 400, response.content
    [issue] = error(response)["issues"]
    assert (issue["file"], issue["path"]) == ("config.json", "capital.total_capital")
    assert "≤ 1000000000000" in issue["message"]


@pytest.mark.parametrize("depth", [100, 100_000])
def test_a_config_nested_too_deeply_is_a_validation_error(api, depth: int) -> None:
    files = config_with_raw("parameters.tickers", "[" * depth + "]" * depth)
    response = api.post("/api/v1/strategies/", {"files": files})
    assert response.status_code == 400, response.content
    [issue] = error(response)["issues"]
    assert issue["file"] == "config.json" and "nested more than" in issue["message"]
    assert not Strategy.objects.exists()


def test_file_ids_of_another_user_are_a_validation_error(api, bob) -> None:
    theirs = ChatFile.objects.create(owner=bob, filename="entry.py", content="x = 1\n")
    response = api.post("/api/v1/strategies/", {"file_ids": [theirs.pk]})
    assert response.status_code == 400
    assert error(response)["issues"][0]["path"] == "file_ids[0]"


def test_files_and_file_ids_together_are_refused(api) -> None:
    response = api.post("/api/v1/strategies/", {"files": kalshi_files(), "file_ids": [1]})
    assert response.status_code == 400 and error(response)["type"] == "validation_error"


def test_the_list_is_the_callers_own_paginated_and_filtered(api, alice, bob, staff) -> None:
    strategy_deploy(owner=alice, files=kalshi_files(name="A kalshi"), approve_by=staff)
    strategy_deploy(owner=alice, files=example_files("alpaca_mean_reversion"))
    strategy_deploy(owner=bob, files=kalshi_files(name="Bob's"))
    body = api.get("/api/v1/strategies/").json()
    assert body["count"] == 2 and {s["name"] for s in body["results"]} >= {"A kalshi"}
    assert [s["name"] for s in api.get("/api/v1/strategies/?status=approved").json()["results"]] == ["A kalshi"]
    assert [s["platform"] for s in api.get("/api/v1/strategies/?platform=alpaca").json()["results"]] == ["alpaca"]
    assert api.get("/api/v1/strategies/?mode=live").json()["count"] == 0
    page = api.get("/api/v1/strategies/?page_size=1").json()
    assert len(page["results"]) == 1 and page["next"]
    response = api.get("/api/v1/strategies/?platform=binance&mode=x")
    assert response.status_code == 400
    assert sorted(i["path"] for i in error(response)["issues"]) == ["mode", "platform"]
    assert api.get("/api/v1/strategies/?page=99").status_code == 404


def test_detail_is_the_callers_strategy(api, alice, bobs_strategy) -> None:
    mine = strategy_deploy(owner=alice, files=kalshi_files()).strategy
    body = api.get(f"/api/v1/strategies/{mine.pk}/").json()
    assert (body["id"], body["schedule"]) == (str(mine.pk), "Runs every 300 seconds")
    assert api.get(f"/api/v1/strategies/{bobs_strategy.pk}/").status_code == 404


def test_a_read_key_cannot_deploy(reader) -> None:
    response = reader.post("/api/v1/strategies/", {"files": kalshi_files()})
    assert response.status_code == 403 and error(response)["type"] == "permission_denied"
    assert not Strategy.objects.exists()
