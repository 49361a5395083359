"""A parameter sweep over MCP, through the official SDK's client and `manage.py mcp_server` over stdio: refused past
SWEEP_MAX_POINTS naming the field, started, its progress read, then its ranking with the deflated Sharpe."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
import redis
from django.db import connections
from mcp import Client, StdioServerParameters

from accounts.services import api_key_issue
from strategies.services import strategy_deploy
from strategies.tasks import sweep_point
from strategyhub.celery import app
from tests.api.test_backtests import sma_on_aapl
from tests.api.test_mcp import MANAGE, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("venues_on_simulator")]


def _lanes(sweep_id: int) -> None:
    """The slow lane's worker, here: one lane runs every point (its next turns run at once, eagerly)."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        sweep_point(sweep_id)
    finally:
        app.conf.task_always_eager = eager
        connections.close_all()  # this thread's own connection, or the test database cannot be dropped


def test_a_sweep_over_mcp(alice, venues_on_simulator, settings) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    key = api_key_issue(user=alice)
    params = StdioServerParameters(command=sys.executable, args=[MANAGE, "mcp_server"],
                                   env=server_env(venues_on_simulator, STRATEGYHUB_API_KEY=key, SWEEP_MAX_POINTS="3"))

    async def session() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=60) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            too_many = await client.call_tool("run_sweep", {"strategy_id": str(strategy.pk),
                                                            "parameters": {"fast": [5, 10], "slow": [20, 30]}})
            started = await client.call_tool("run_sweep", {"strategy_id": str(strategy.pk), "metric": "sharpe",
                                                           "parameters": {"fast": [5, 10]}, "cash": "10000"})
            assert not started.is_error, started.content
            sweep_id = started.structured_content["sweep_id"]
            queued = await client.call_tool("get_sweep", {"sweep_id": sweep_id})
            await asyncio.to_thread(_lanes, int(sweep_id))
            done = await client.call_tool("get_sweep", {"sweep_id": sweep_id})
            return {"tools": tools, "too_many": too_many, "queued": queued.structured_content,
                    "done": done.structured_content, "text": json.loads(done.content[0].text)}  # type: ignore[union-attr]

    try:
        result = asyncio.run(session())
    finally:  # the server's lanes were queued on the slow lane of this Redis: nothing of them may linger
        redis.Redis.from_url(settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://", 1)).delete(
            settings.CELERY_SLOW_QUEUE)
    tools = result["tools"]
    assert tools["get_sweep"].annotations.read_only_hint is True
    assert tools["cancel_sweep"].annotations.destructive_hint is True
    assert "deflated" in tools["run_sweep"].description
    refused = result["too_many"]
    assert refused.is_error and refused.structured_content["error"]["issues"][0]["path"] == "parameters"
    assert "more than SWEEP_MAX_POINTS (3)" in refused.structured_content["error"]["message"]
    assert result["queued"]["status"] == "queued" and result["queued"]["progress"]["total"] == 2
    done = result["done"]
    assert done["status"] == "succeeded" and done["progress"]["done"] == 2 and done["trials"] == 2
    assert [row["parameters"] for row in done["ranking"]] in ([{"fast": 5}, {"fast": 10}], [{"fast": 10}, {"fast": 5}])
    assert done["deflated_sharpe"]["trials"] == 2 and done["out_of_sample"] is not None
    assert result["text"] == done
