"""Versions of a strategy: a new one (files or config), the list, one with its files, the diff of two."""

from __future__ import annotations

import json

import pytest

from strategies.models import Strategy
from strategies.services import strategy_deploy
from tests.api.conftest import error, kalshi_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

FIXED_EXIT = "def should_exit(ctx, position):\n    ctx.log('holding')\n    return None\n"


@pytest.fixture
def approved(alice, staff) -> Strategy:
    return strategy_deploy(owner=alice, files=kalshi_files(), approve_by=staff).strategy


def test_new_files_make_a_new_version_pending_approval_with_a_smoke_run(api, approved) -> None:
    response = api.post(f"/api/v1/strategies/{approved.pk}/versions/", {"files": {"exit.py": FIXED_EXIT}})
    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["status"], body["created"]) == (2, "pending_approval", True)
    assert body["smoke"]["status"] == "succeeded"
    files = {f["filename"]: f for f in api.get(f"/api/v1/strategies/{approved.pk}/versions/2/").json()["files"]}
    assert files["exit.py"]["content"] == FIXED_EXIT
    assert files["entry.py"]["content"] == kalshi_files()["entry.py"]  # kept from version 1


def test_a_config_change_is_a_new_version(api, approved) -> None:
    config = json.loads(kalshi_files()["config.json"])
    config["polling_interval"] = 120
    response = api.post(f"/api/v1/strategies/{approved.pk}/versions/", {"config": config})
    assert response.status_code == 201
    # The strategy still reads as its approved version, which keeps running; version 2 holds the change.
    assert (response.json()["polling_interval"], response.json()["running_version"]) == (300, 1)
    assert api.get(f"/api/v1/strategies/{approved.pk}/versions/2/").json()["config"]["polling_interval"] == 120


def test_the_same_code_again_is_200_and_no_new_version(api, approved) -> None:
    response = api.post(f"/api/v1/strategies/{approved.pk}/versions/", {"files": {"entry.py": kalshi_files()["entry.py"]}})
    assert response.status_code == 200 and response.json()["version"] == 1 and not response.json()["created"]
    assert approved.versions.count() == 1


@pytest.mark.parametrize("body", [
    {"files": {"config.json": json.dumps(json.loads(kalshi_files()["config.json"]), indent=4, sort_keys=True)}},
    {"config": json.loads(kalshi_files()["config.json"])},  # stored as json.dumps(indent=2): other bytes
], ids=["config.json re-indented", "the config object"])
def test_the_same_config_in_other_whitespace_is_200_and_the_approved_version_keeps_running(api, approved,
                                                                                         body) -> None:
    response = api.post(f"/api/v1/strategies/{approved.pk}/versions/", body)
    assert response.status_code == 200, response.json()
    assert (response.json()["version"], response.json()["created"], response.json()["status"]) == (
        1, False, "approved")
    approved.refresh_from_db()
    assert approved.versions.count() == 1 and approved.next_run_at is not None


def test_the_same_files_deployed_again_in_other_whitespace_are_the_same_version(api) -> None:
    first = api.post("/api/v1/strategies/", {"files": kalshi_files()}).json()
    files = {**kalshi_files(), "config.json": json.dumps(json.loads(kalshi_files()["config.json"]), indent=1)}
    again = api.post("/api/v1/strategies/", {"files": files})
    assert again.status_code == 200, again.json()
    assert (again.json()["id"], again.json()["version"], again.json()["created"]) == (first["id"], 1, False)


def test_an_invalid_version_is_refused_with_its_issues_and_nothing_changes(api, approved) -> None:
    response = api.post(f"/api/v1/strategies/{approved.pk}/versions/",
                        {"files": {"entry.py": "def should_enter(ctx:\n"}, "config": {"name": "x"}})
    assert response.status_code == 400
    issues = error(response)["issues"]
    assert any(i["file"] == "entry.py" and i["line"] == 1 for i in issues)
    assert any(i["file"] == "config.json" and i["path"] == "thesis" for i in issues)
    approved.refresh_from_db()
    assert approved.status == "approved" and approved.versions.count() == 1


@pytest.mark.parametrize(("raw", "expected"), [("1e400", "finite number"), ("1e308", "≤ 1000000000000")])
def test_a_config_number_out_of_range_is_a_validation_error_naming_the_field(api, approved, raw: str,
                                                                             expected: str) -> None:
    config = json.loads(kalshi_files()["config.json"])
    config["capital"]["total_capital"] = "@raw@"
    body = json.dumps({"config": config}).replace('"@raw@"', raw)  # json.dumps writes no 1e400
    response = api.client.post(f"/api/v1/strategies/{approved.pk}/versions/", data=body,
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 400, response.content
    [issue] = error(response)["issues"]
    assert (issue["file"], issue["path"]) == ("config.json", "capital.total_capital") and expected in issue["message"]
    assert approved.versions.count() == 1


def test_renaming_onto_another_strategy_is_a_validation_error(api, alice, approved) -> None:
    strategy_deploy(owner=alice, files=kalshi_files(name="Taken"))
    config = json.loads(kalshi_files()["config.json"])
    config["name"] = "Taken"
    response = api.post(f"/api/v1/strategies/{approved.pk}/versions/", {"config": config})
    assert response.status_code == 400 and error(response)["issues"][0]["path"] == "name"


def test_the_list_and_one_version(api, approved) -> None:
    api.post(f"/api/v1/strategies/{approved.pk}/versions/", {"files": {"exit.py": FIXED_EXIT}})
    versions = api.get(f"/api/v1/strategies/{approved.pk}/versions/").json()
    assert [(v["number"], v["approval"], v["is_current"]) for v in versions] == [
        (2, "pending", True), (1, "approved_paper", False)]
    one = api.get(f"/api/v1/strategies/{approved.pk}/versions/1/").json()
    assert one["config"]["name"] == approved.name and len(one["files"]) == 3
    assert api.get(f"/api/v1/strategies/{approved.pk}/versions/3/").status_code == 404


def test_the_diff_is_unified_per_changed_file(api, approved) -> None:
    api.post(f"/api/v1/strategies/{approved.pk}/versions/", {"files": {"exit.py": FIXED_EXIT}})
    body = api.get(f"/api/v1/strategies/{approved.pk}/versions/1/diff/2/").json()
    assert (body["a"], body["b"]) == (1, 2)
    [diff] = body["files"]
    assert (diff["filename"], diff["change"]) == ("exit.py", "modified")
    assert diff["diff"].startswith("--- a/exit.py\n+++ b/exit.py\n")
    assert "+    ctx.log('holding')\n" in diff["diff"]
    assert api.get(f"/api/v1/strategies/{approved.pk}/versions/1/diff/9/").status_code == 404
