"""What MCP offers beyond the first tools, through the official SDK's client over stdio (`manage.py mcp_server`
spawned, as an agent host starts it): resources (the strategy guide, the config schema, the examples and the caller's
own strategies' files), the tools for versions, backtests and webhooks, and each tool refusing another user's ids."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from accounts.services import api_key_issue
from strategies.backtests import backtest_create, default_data
from strategies.models import Backtest, Strategy
from strategies.services import strategy_deploy
from strategies.validation import config_schema
from tests.api.test_backtests import sma_on_aapl
from tests.api.test_mcp import MANAGE, daphne, server_env  # noqa: F401 - daphne: the fixture
from tests.conftest import scripts_files
from trading.simulator.polymarket.venue import LEADER_WALLET
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("venues_on_simulator")]
RECEIVER = "http://127.0.0.1:9/hook"  # never posted to: no event is sent in these tests


def over_stdio(simulator: Any, user: Any, session: Callable[[Client], Awaitable[Any]]) -> Any:
    params = StdioServerParameters(command=sys.executable, args=[MANAGE, "mcp_server"],
                                   env=server_env(simulator, STRATEGYHUB_API_KEY=api_key_issue(user=user)))

    async def run() -> Any:
        async with Client(params, read_timeout_seconds=60) as client:
            return await session(client)

    return asyncio.run(run())


def queued_backtest(strategy: Strategy) -> Backtest:
    version = strategy.versions.get()
    return backtest_create(version=version, created_by=strategy.owner, data=default_data(version.config, None))


def test_resources_are_the_guide_the_schema_the_examples_and_my_own_files(alice, bob, venues_on_simulator) -> None:
    mine = strategy_deploy(owner=alice, files=scripts_files(name="Mine")).strategy
    bobs = strategy_deploy(owner=bob, files=scripts_files(name="Bob's")).strategy

    async def session(client: Client) -> dict[str, Any]:
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        read = {uri: (await client.read_resource(uri)).contents[0] for uri in listed}
        templates = (await client.list_resource_templates()).resource_templates
        refusals = []
        for uri in (f"strategyhub://strategies/{bobs.pk}/versions/1/files/entry.py",
                    f"strategyhub://strategies/{mine.pk}/versions/1/files/secrets.py", "strategyhub://nothing"):
            with pytest.raises(MCPError) as refused:
                await client.read_resource(uri)
            refusals.append(refused.value.message)
        return {"listed": listed, "read": read, "templates": templates, "refusals": refusals}

    result = over_stdio(venues_on_simulator, alice, session)
    listed, read = result["listed"], result["read"]
    guide = read["strategyhub://docs/strategies.md"]
    assert listed["strategyhub://docs/strategies.md"].mime_type == "text/markdown"
    assert guide.text.startswith("# Writing a strategy")
    assert json.loads(read["strategyhub://schema/strategy-config.schema.json"].text) == config_schema()
    assert "strategyhub://examples/polymarket_copy_trader/strategy.py" in listed
    files = {uri.rsplit("/", 1)[1]: read[uri].text for uri in listed
             if uri.startswith(f"strategyhub://strategies/{mine.pk}/versions/1/files/")}
    assert files == scripts_files(name="Mine") | {"config.json": files["config.json"]}
    assert json.loads(files["config.json"])["name"] == "Mine"
    assert not any(f"/strategies/{bobs.pk}/" in uri for uri in listed)  # another user's files are not named
    assert [t.uri_template for t in result["templates"]] == [
        "strategyhub://strategies/{strategy_id}/versions/{number}/files/{filename}"]
    bob_refused, no_file, no_resource = result["refusals"]
    assert f"you have no strategy {bobs.pk}" in bob_refused
    assert "entry.py" in no_file and "no resource" in no_resource


def test_versions_backtests_and_webhooks_over_mcp(alice, venues_on_simulator) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    backtest = queued_backtest(strategy)
    hook = webhook_endpoint_create(user=alice, url=RECEIVER, events=["order.filled"])

    async def session(client: Client) -> dict[str, Any]:
        async def call(name: str, **arguments: Any) -> Any:
            answer = await client.call_tool(name, arguments)
            assert not answer.is_error, answer.content
            return answer.structured_content

        return {
            "versions": await call("list_versions", strategy_id=str(strategy.pk)),
            "version": await call("get_version", strategy_id=str(strategy.pk), number="1"),
            "backtests": await call("list_backtests", strategy_id=str(strategy.pk)),
            "cancelled": await call("cancel_backtest", backtest_id=str(backtest.pk)),
            "updated": await call("update_webhook", webhook_id=str(hook.pk), events=["strategy.paused"],
                                  enabled=False),
            "deleted": await call("delete_webhook", webhook_id=str(hook.pk)),
            "webhooks": await call("list_webhooks"),
        }

    result = over_stdio(venues_on_simulator, alice, session)
    (version,) = result["versions"]["result"]
    assert (version["number"], version["is_current"], version["approval"]) == (1, True, "pending")
    assert {f["filename"]: f["content"] for f in result["version"]["files"]}["entry.py"] == sma_on_aapl()["entry.py"]
    assert [b["id"] for b in result["backtests"]["result"]] == [str(backtest.pk)]
    assert result["cancelled"]["status"] == "cancelled"
    assert Backtest.objects.get(pk=backtest.pk).status == "cancelled"
    assert (result["updated"]["events"], result["updated"]["enabled"]) == (["strategy.paused"], False)
    assert result["deleted"] == {"deleted": True, "webhook_id": str(hook.pk)}
    assert result["webhooks"] == {"result": []} and not WebhookEndpoint.objects.filter(pk=hook.pk).exists()


def test_every_new_tool_refuses_another_users_ids(alice, bob, venues_on_simulator) -> None:
    bobs = strategy_deploy(owner=bob, files=sma_on_aapl()).strategy
    backtest = queued_backtest(bobs)
    hook = webhook_endpoint_create(user=bob, url=RECEIVER, events=["order.filled"])
    calls: dict[str, dict[str, Any]] = {
        "list_versions": {"strategy_id": str(bobs.pk)},
        "get_version": {"strategy_id": str(bobs.pk), "number": "1"},
        "list_backtests": {"strategy_id": str(bobs.pk)},
        "cancel_backtest": {"backtest_id": str(backtest.pk)},
        "update_webhook": {"webhook_id": str(hook.pk), "enabled": False},
        "delete_webhook": {"webhook_id": str(hook.pk)},
        "archive_strategy": {"strategy_id": str(bobs.pk)},
        "clone_strategy": {"strategy_id": str(bobs.pk), "name": "Bob's, taken"},
    }

    async def session(client: Client) -> dict[str, Any]:
        answers = {}
        for name, arguments in calls.items():
            answer = await client.call_tool(name, arguments)
            answers[name] = (answer.is_error, answer.structured_content)
        return answers

    answers = over_stdio(venues_on_simulator, alice, session)
    for name, (is_error, body) in answers.items():
        assert is_error and body["error"]["type"] == "not_found", (name, body)
    assert Backtest.objects.get(pk=backtest.pk).status == "queued"
    assert WebhookEndpoint.objects.get(pk=hook.pk).enabled is True
    assert Strategy.objects.get(pk=bobs.pk).status == "pending_approval"
    assert not Strategy.objects.filter(owner=alice).exists()  # no clone of Bob's code


def test_every_tool_answers_what_its_output_schema_says(alice, staff, venues_on_simulator) -> None:
    """The SDK's client checks each successful answer against the tool's output schema and raises on a mismatch."""
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl(), approve_by=staff).strategy
    sid, config = str(strategy.pk), strategy.versions.get().config
    called: dict[str, Any] = {}

    async def session(client: Client) -> dict[str, Any]:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

        async def call(name: str, **arguments: Any) -> Any:
            answer = await client.call_tool(name, arguments)
            assert not answer.is_error, (name, answer.content)
            called[name] = answer.structured_content
            return answer.structured_content

        await call("get_strategy_guide")
        await call("list_strategies")
        await call("get_strategy", strategy_id=sid)
        execution = await call("test_run", strategy_id=sid)
        await call("get_execution", execution_id=execution["id"])
        await call("list_executions", strategy_id=sid)
        await call("run_now", strategy_id=sid)
        await call("pause_strategy", strategy_id=sid, reason="checking the tools")
        await call("enable_strategy", strategy_id=sid)
        for name in ("get_positions", "get_orders", "get_performance", "get_graduation", "list_versions",
                     "list_backtests"):
            await call(name, strategy_id=sid)
        backtest = await call("run_backtest", strategy_id=sid)
        await call("get_backtest", backtest_id=backtest["backtest_id"])
        await call("cancel_backtest", backtest_id=backtest["backtest_id"])
        sweep = await call("run_sweep", strategy_id=sid, parameters={"fast": [5, 10]})
        await call("get_sweep", sweep_id=sweep["sweep_id"])
        await call("cancel_sweep", sweep_id=sweep["sweep_id"])
        await call("update_strategy", strategy_id=sid,
                   config={**config, "description": "a second version"})
        await call("get_version", strategy_id=sid, number="2")
        await call("diff_versions", strategy_id=sid, a="1", b="2")
        another = await call("deploy_strategy", files=scripts_files(name="Another"))
        await call("clone_strategy", strategy_id=another["id"])
        await call("archive_strategy", strategy_id=another["id"])
        await call("find_markets", platform="kalshi")
        await call("find_wallets")
        hook = await call("create_webhook", url=RECEIVER, events=["order.filled"])
        await call("list_webhooks")
        await call("get_webhook_deliveries", webhook_id=hook["id"])
        await call("update_webhook", webhook_id=hook["id"], description="mine")
        await call("delete_webhook", webhook_id=hook["id"])
        return tools

    tools = over_stdio(venues_on_simulator, alice, session)
    assert set(called) == set(tools)  # every tool was called once
    for tool in tools.values():
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", tool.name


def test_clone_and_archive_over_mcp(alice, staff, venues_on_simulator) -> None:
    original = strategy_deploy(owner=alice, files=scripts_files(name="Longshots"), approve_by=staff).strategy
    sid = str(original.pk)

    async def session(client: Client) -> dict[str, Any]:
        async def call(tool: str, **arguments: Any) -> Any:
            answer = await client.call_tool(tool, arguments)
            return answer.structured_content if not answer.is_error else {"refused": answer.structured_content}

        clone = await call("clone_strategy", strategy_id=sid)
        return {
            "clone": clone,
            "second": await call("clone_strategy", strategy_id=sid),
            "named": await call("clone_strategy", strategy_id=sid, name="Longshots, tighter"),
            "taken": await call("clone_strategy", strategy_id=sid, name="Longshots"),
            "queued": await call("run_now", strategy_id=sid),
            "busy": await call("archive_strategy", strategy_id=sid),  # its cycle is queued
            "archived": await call("archive_strategy", strategy_id=clone["id"]),
            "listed": await call("list_strategies"),
            "again": await call("deploy_strategy", files=scripts_files(name="Longshots (copy)")),
        }

    result = over_stdio(venues_on_simulator, alice, session)
    clone = result["clone"]
    assert (clone["name"], clone["status"], clone["version"], clone["created"]) == (
        "Longshots (copy)", "pending_approval", 1, True)
    assert clone["smoke"]["status"] == "succeeded" and clone["id"] != sid
    copied = Strategy.objects.get(pk=clone["id"]).current_version
    assert copied is not None and copied.source_files()["entry.py"] == scripts_files()["entry.py"]
    assert result["second"]["name"] == "Longshots (copy 2)" and result["named"]["name"] == "Longshots, tighter"
    assert result["taken"]["refused"]["error"]["type"] == "name_taken"
    busy = result["busy"]["refused"]["error"]
    assert busy["type"] == "archive_refused" and f"execution {result['queued']['execution_id']}" in busy["message"]
    assert Strategy.objects.get(pk=original.pk).status == "approved"
    assert result["archived"]["status"] == "archived" and result["archived"]["enabled"] is False
    names = [s["name"] for s in result["listed"]["results"]]
    assert names == ["Longshots", "Longshots (copy 2)", "Longshots, tighter"]  # the archived copy is gone
    assert result["again"]["created"] is True  # and its name is free again


def test_find_markets_and_wallets_list_what_the_venue_lists(alice, venues_on_simulator) -> None:
    async def session(client: Client) -> dict[str, Any]:
        answers = {}
        for platform, query in (("polymarket", ""), ("kalshi", ""), ("alpaca", "AAPL")):
            answer = await client.call_tool("find_markets", {"platform": platform, "query": query, "limit": 3})
            assert not answer.is_error, answer.content
            answers[platform] = answer.structured_content
        refused = await client.call_tool("find_markets", {"platform": "nasdaq"})
        answers["refused"] = refused.structured_content
        answers["wallets"] = (await client.call_tool("find_wallets", {"window": "week", "limit": 5})).structured_content
        return answers

    answers = over_stdio(venues_on_simulator, alice, session)
    for platform in ("polymarket", "kalshi", "alpaca"):
        results = answers[platform]["results"]
        assert 1 <= len(results) <= 3 and all(m["platform"] == platform and m["title"] for m in results), results
    polymarket = answers["polymarket"]["results"][0]
    assert len(polymarket["instrument_ids"]) == len(polymarket["outcomes"]) == 2
    assert answers["alpaca"]["results"][0]["market_id"] == "AAPL"
    assert answers["refused"]["error"]["issues"][0]["path"] == "platform"
    (leader,) = answers["wallets"]["results"]  # the simulator's one trader with a record: the synthetic leader
    assert (leader["wallet"], leader["rank"]) == (LEADER_WALLET, 1) and answers["wallets"]["window"] == "week"


def test_resources_over_streamable_http_are_the_keys_owners(alice, bob, daphne) -> None:  # noqa: F811
    mine = strategy_deploy(owner=alice, files=scripts_files(name="Mine")).strategy
    bobs = strategy_deploy(owner=bob, files=scripts_files(name="Bob's")).strategy
    key = api_key_issue(user=alice)

    async def session() -> dict[str, Any]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http, \
                Client(streamable_http_client(daphne, http_client=http), read_timeout_seconds=60) as client:
            listed = [r.uri for r in (await client.list_resources()).resources]
            entry = await client.read_resource(f"strategyhub://strategies/{mine.pk}/versions/1/files/entry.py")
            with pytest.raises(MCPError) as refused:
                await client.read_resource(f"strategyhub://strategies/{bobs.pk}/versions/1/files/entry.py")
            return {"listed": listed, "entry": entry.contents[0], "refused": refused.value.message}

    result = asyncio.run(session())
    assert f"strategyhub://strategies/{mine.pk}/versions/1/files/entry.py" in result["listed"]
    assert not any(f"/strategies/{bobs.pk}/" in uri for uri in result["listed"])
    assert result["entry"].text == scripts_files()["entry.py"]
    assert f"you have no strategy {bobs.pk}" in result["refused"]
