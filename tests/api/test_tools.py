"""GET /api/v1/tools/: one tool table in OpenAI, Anthropic and MCP formats; get_strategy_guide; calling a tool."""

from __future__ import annotations

import pytest

from api.tools import tool_call
from runtime.sdk import VENUE_METHODS
from tests.api.conftest import error, kalshi_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("connections_kept")]



ISSUE_TOOLS = {"run_backtest", "get_backtest", "deploy_strategy", "update_strategy", "list_strategies", "get_strategy", "diff_versions", "test_run",
               "run_now", "pause_strategy", "enable_strategy", "list_executions", "get_execution", "get_positions",
               "get_orders", "get_performance", "get_graduation", "get_strategy_guide", "create_webhook",
               "list_webhooks", "get_webhook_deliveries",
               # issue 24: what REST has beyond these
               "list_versions", "get_version", "list_backtests", "cancel_backtest", "update_webhook", "delete_webhook",
               "archive_strategy", "clone_strategy", "find_markets", "find_wallets"}
ISSUE_TOOLS |= {"run_sweep", "get_sweep", "cancel_sweep"}  # issue 21's parameter sweeps


def test_openai_format(api) -> None:
    body = api.get("/api/v1/tools/?format=openai").json()
    assert body["format"] == "openai"
    assert {t["function"]["name"] for t in body["tools"]} == ISSUE_TOOLS
    deploy = next(t for t in body["tools"] if t["function"]["name"] == "deploy_strategy")
    assert deploy["type"] == "function" and deploy["function"]["parameters"]["required"] == ["files"]
    assert "smoke" in deploy["function"]["description"]


def test_anthropic_format(api) -> None:
    tools = api.get("/api/v1/tools/?format=anthropic").json()["tools"]
    assert {t["name"] for t in tools} == ISSUE_TOOLS
    assert all(set(t) == {"name", "description", "input_schema"} for t in tools)


def test_mcp_format_carries_read_only_and_destructive_hints(api) -> None:
    tools = {t["name"]: t for t in api.get("/api/v1/tools/?format=mcp").json()["tools"]}
    assert tools["get_execution"]["annotations"]["readOnlyHint"] is True
    assert tools["run_now"]["annotations"] == {**tools["run_now"]["annotations"], "readOnlyHint": False,
                                               "destructiveHint": True}
    assert tools["deploy_strategy"]["annotations"]["destructiveHint"] is False


def test_mcp_format_carries_each_tools_output_schema(api) -> None:
    tools = {t["name"]: t for t in api.get("/api/v1/tools/?format=mcp").json()["tools"]}
    assert all(t["outputSchema"]["type"] == "object" for t in tools.values())
    backtest = tools["get_backtest"]["outputSchema"]
    assert {"status", "metrics", "trades", "equity"} <= set(backtest["properties"])
    assert backtest["$defs"]["BacktestStatusEnum"]["enum"][:2] == ["queued", "running"]
    assert tools["list_webhooks"]["outputSchema"]["properties"]["result"]["type"] == "array"  # a list, wrapped


def test_an_unknown_format_is_a_validation_error(api) -> None:
    response = api.get("/api/v1/tools/?format=gemini")
    assert response.status_code == 400 and error(response)["issues"][0]["path"] == "format"


def test_the_guide_has_the_schema_every_venue_method_and_two_examples(agent_key) -> None:
    code, guide = tool_call("get_strategy_guide", {}, authorization=f"Bearer {agent_key}")
    assert code == 200
    assert guide["config_schema"]["title"] == "StrategyHub strategy config.json"
    assert guide["venue_methods"] == {v: {m: list(a) for m, a in ms.items()} for v, ms in VENUE_METHODS.items()}
    assert [e["name"] for e in guide["examples"]] == ["polymarket_copy_trader", "kalshi_favourite_longshot"]
    assert "strategy.py" in guide["examples"][0]["files"] and "EntrySignal(" in guide["sdk_reference"]


@pytest.mark.usefixtures("venues_on_simulator")
def test_a_tool_call_is_the_rest_call_with_the_callers_key(agent_key, read_key) -> None:
    code, deployed = tool_call("deploy_strategy", {"files": kalshi_files()}, authorization=f"Bearer {agent_key}")
    assert code == 201 and deployed["smoke"]["status"] == "succeeded"
    code, strategy = tool_call("get_strategy", {"strategy_id": deployed["id"]}, authorization=f"Bearer {read_key}")
    assert code == 200 and strategy["strategy"]["id"] == deployed["id"]
    assert {f["filename"] for f in strategy["current_version"]["files"]} == {"config.json", "entry.py", "exit.py"}
    code, refused = tool_call("test_run", {"strategy_id": deployed["id"]}, authorization=f"Bearer {read_key}")
    assert code == 403 and refused["error"]["type"] == "permission_denied"


def test_bad_tool_arguments_are_validation_errors(agent_key) -> None:
    code, body = tool_call("get_execution", {"execution_id": "../keys", "extra": 1}, authorization=f"Bearer {agent_key}")
    assert code == 400 and {i["path"] for i in body["error"]["issues"]} == {"execution_id", "extra"}
    code, body = tool_call("no_such_tool", {}, authorization=f"Bearer {agent_key}")
    assert code == 404


def test_webhook_tools_are_the_webhook_routes(agent_key, read_key) -> None:
    code, created = tool_call("create_webhook", {"url": "https://agent.example.com/hook", "events": ["order.filled"]},
                              authorization=f"Bearer {agent_key}")
    assert code == 201 and created["secret"].startswith("whsec_")
    code, listed = tool_call("list_webhooks", {}, authorization=f"Bearer {read_key}")
    assert code == 200 and [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    code, deliveries = tool_call("get_webhook_deliveries", {"webhook_id": created["id"]},
                                 authorization=f"Bearer {read_key}")
    assert code == 200 and deliveries["results"] == []
    code, refused = tool_call("create_webhook", {"url": "https://agent.example.com/2", "events": ["order.filled"]},
                              authorization=f"Bearer {read_key}")
    assert code == 403 and refused["error"]["type"] == "permission_denied"
