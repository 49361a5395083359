"""An agent's first deploy answers everything it can (issue 24, item 1): the seed copy trader, sent through the
official MCP client exactly as shared/reference/seed-design.md writes it, is refused with every static problem
at once and, beside them, a smoke run of the refused files with the config schema's defaults, so the runtime
error comes in the same answer. Fixing what that one answer says gives working code on the second deploy."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from accounts.services import api_key_issue
from chatfiles.models import ChatFile
from strategies.models import Execution, Strategy
from tests.api.conftest import error, kalshi_files
from tests.api.test_copy_trader import SEED_CONFIG, SEED_STRATEGY, SIMULATED_WALLET
from tests.api.test_mcp import MANAGE, server_env

pytestmark = [pytest.mark.usefixtures("venues_on_simulator")]

# What the first answer names, each fixed as an agent would: the config completed, the reply read as the list it
# is with its real keys, and the copied trade ids kept in ctx.state (each cycle runs the module anew).
FIXES = [
    ("for trade in trades['trades']:", "for trade in trades:"),
    ("trade['token_id']", "trade['asset']"),
    ("trade['market_slug']", "trade['title']"),
    ("if trade['id'] not in self.processed_trades:\n                    self.processed_trades.add(trade['id'])",
     "if trade['id'] not in ctx.state.setdefault('copied', []):\n                    "
     "ctx.state['copied'].append(trade['id'])"),
]
FIXED_CONFIG = {**SEED_CONFIG, "thesis": "Profitable wallets keep their edge for days.",
                "capital": {"total_capital": 5000, "capital_per_trade": 100, "max_positions": 5,
                            "max_position_size": 500, "max_daily_loss": 200, "sizing_method": "fixed"},
                # the user's own wallet to copy, in place of the document's placeholder
                "parameters": {**SEED_CONFIG["parameters"], "tracked_traders": [SIMULATED_WALLET]}}


def fixed_strategy() -> str:
    code = SEED_STRATEGY
    for before, after in FIXES:
        assert before in code
        code = code.replace(before, after)
    return code


def check_first_answer(body: dict[str, Any]) -> None:
    issues = " | ".join(one["message"] for one in body["error"]["issues"])
    for named in ("thesis is required", "capital is required", "total_capital", "trades['trades']",
                  "no key 'token_id' (use 'asset')", "no key 'market_slug' (use 'title')",
                  "self.processed_trades is read but never set"):
        assert named in issues, named
    smoke = body["smoke"]
    assert set(smoke["config_defaults"]) == {"thesis", "capital"}  # labelled: which values were the schema's
    assert "defaults" in smoke["note"] and "Nothing was stored" in smoke["note"]
    assert smoke["status"] == "failed" and smoke["execution_id"] is None
    assert 'strategy.py", line 17' in smoke["error"]  # the script's own traceback: trades['trades'] on a list


@pytest.mark.django_db(transaction=True)
def test_the_seed_copy_trader_through_mcp_works_on_the_second_deploy(alice, venues_on_simulator) -> None:
    key = api_key_issue(user=alice)
    params = StdioServerParameters(command=sys.executable, args=[MANAGE, "mcp_server"],
                                   env=server_env(venues_on_simulator, STRATEGYHUB_API_KEY=key))

    async def session() -> tuple[Any, Any]:
        async with Client(params, read_timeout_seconds=60) as client:
            first = await client.call_tool("deploy_strategy", {"files": {
                "strategy.py": SEED_STRATEGY, "config.json": json.dumps(SEED_CONFIG, indent=2)}})
            second = await client.call_tool("deploy_strategy", {"files": {
                "strategy.py": fixed_strategy(), "config.json": json.dumps(FIXED_CONFIG, indent=2)}})
            return first, second

    first, second = asyncio.run(session())
    assert first.is_error
    check_first_answer(first.structured_content)

    assert not second.is_error, second.content
    deployed = second.structured_content
    assert deployed["created"] is True and deployed["status"] == "pending_approval"
    smoke = deployed["smoke"]
    assert smoke["status"] == "succeeded", smoke["error"]
    assert smoke["config_defaults"] == {}
    assert [a for a in smoke["actions"] if a["kind"] == "order_would_place"]
    # Only the second deploy was stored: the first one's trial left no strategy, file or run behind.
    assert list(Strategy.objects.values_list("name", flat=True)) == ["Polymarket Copy Trader"]
    assert Execution.objects.count() == 1
    assert ChatFile.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_new_version_is_smoke_run_with_its_own_config(api, alice) -> None:
    deployed = api.post("/api/v1/strategies/", {"files": {"strategy.py": fixed_strategy(),
                                                          "config.json": json.dumps(FIXED_CONFIG)}})
    assert deployed.status_code == 201, deployed.json()
    strategy_id = deployed.json()["id"]
    broken = fixed_strategy().replace("ctx.state['copied'].append(trade['id'])",
                                      "ctx.state['copied'].append(trade['id'])\n"
                                      "                    self.seen.add(trade['id'])")
    answer = api.post(f"/api/v1/strategies/{strategy_id}/versions/", {"files": {"strategy.py": broken}})
    body = error(answer)
    assert "self.seen is read but never set" in body["issues"][0]["message"]
    smoke = answer.json()["smoke"]
    assert smoke["config_defaults"] == {} and "used as sent" in smoke["note"]
    assert smoke["status"] == "failed" and "AttributeError" in smoke["error"] and "seen" in smoke["error"]
    assert Strategy.objects.get(pk=strategy_id).versions.count() == 1


@pytest.mark.django_db
def test_code_that_cannot_load_is_refused_without_a_smoke_run(api) -> None:
    answer = api.post("/api/v1/strategies/", {"files": {"strategy.py": "class X(:\n", "config.json": "{}"}})
    assert answer.status_code == 400
    smoke = answer.json()["smoke"]
    assert smoke["status"] == "not_started" and "cannot be loaded" in smoke["error"]


@pytest.mark.django_db
def test_invalid_and_unknown_config_values_are_replaced_by_defaults_for_the_smoke_run_and_named(api) -> None:
    files = kalshi_files()
    config = json.loads(files["config.json"])
    config["capital"]["max_positions"] = "five"
    config.update(polling_interval=2, polling_intreval=60)
    del config["thesis"]
    answer = api.post("/api/v1/strategies/", {"files": {**files, "config.json": json.dumps(config)}})
    paths = {issue["path"] for issue in error(answer)["issues"]}
    assert {"capital.max_positions", "polling_interval", "polling_intreval", "thesis"} <= paths
    smoke = answer.json()["smoke"]
    assert smoke["config_defaults"] == {"capital.max_positions": 5, "polling_interval": 60, "polling_intreval": None,
                                        "thesis": "(no thesis given)"}
    assert smoke["status"] == "succeeded", smoke["error"]  # the code itself runs: its logs and would-be orders
    assert smoke["logs"] and not Strategy.objects.exists()
