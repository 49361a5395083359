"""The MCP server through the official SDK's own client: over stdio (`manage.py mcp_server` spawned) and over
streamable HTTP at /mcp (the ASGI app under daphne on a free port). Each session deploys, test-runs and reads
an execution, as the key's owner."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from django.conf import settings
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from accounts.services import api_key_issue
from api.tools import TOOLS_BY_NAME
from strategies.models import Execution, Strategy
from tests.api.conftest import kalshi_files
from tests.faults.services import shared_database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("venues_on_simulator")]
MANAGE = os.path.join(settings.BASE_DIR, "manage.py")


def server_env(simulator: Any, **extra: str) -> dict[str, str]:
    """The subprocess sees this test's database (committed rows) and simulator."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "VENUE_SIMULATOR_URL": simulator.url,
            "DATABASE_URL": shared_database_url(), **extra}


async def agent_session(client: Client) -> dict[str, Any]:
    """What an agent does first: read the tools, deploy, test-run, read the run."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    deployed = await client.call_tool("deploy_strategy", {"files": kalshi_files(name="Over MCP")})
    assert not deployed.is_error, deployed.content
    strategy = deployed.structured_content
    assert strategy is not None
    run = await client.call_tool("test_run", {"strategy_id": strategy["id"]})
    assert not run.is_error, run.content
    execution = await client.call_tool("get_execution", {"execution_id": run.structured_content["id"]})
    text = json.loads(execution.content[0].text)  # type: ignore[union-attr]
    graduation = await client.call_tool("get_graduation", {"strategy_id": strategy["id"]})
    assert not graduation.is_error, graduation.content
    return {"tools": tools, "deployed": strategy, "execution": execution.structured_content, "text": text,
            "graduation": json.loads(graduation.content[0].text)}  # type: ignore[union-attr]


def check_session(result: dict[str, Any], alice: Any) -> None:
    tools = result["tools"]
    assert tools["get_execution"].annotations.read_only_hint is True
    assert tools["run_now"].annotations.destructive_hint is True
    assert set(tools) == set(TOOLS_BY_NAME)
    assert tools["create_webhook"].annotations.read_only_hint is False
    assert result["deployed"]["smoke"]["status"] == "succeeded"
    execution = result["execution"]
    assert (execution["status"], execution["trigger"]) == ("succeeded", "dry_run")
    assert execution["logs"][1]["message"].startswith("scanned ") and result["text"] == execution
    graduation = result["graduation"]  # the checklist with its uncertainty and what it means
    assert graduation["passed"] is False and "Wilson" in graduation["explanation"]
    assert graduation["statistics"]["trades"] == 0 and graduation["statistics"]["win_rate_interval"] is None
    assert "Wilson interval" in tools["get_graduation"].description
    strategy = Strategy.objects.get(pk=result["deployed"]["id"])
    assert strategy.owner == alice and strategy.status == "pending_approval"
    assert Execution.objects.filter(strategy=strategy).count() == 2  # the smoke run and the test run


def check_links(result: dict[str, Any], base: str) -> None:
    """The links in the answers lead to this server, as the agent reaches it."""
    assert result["deployed"]["dashboard_url"].startswith(f"{base}/strategies/#strategy-")


def test_an_mcp_session_over_stdio(alice, venues_on_simulator) -> None:
    key = api_key_issue(user=alice)
    params = StdioServerParameters(command=sys.executable, args=[MANAGE, "mcp_server"],
                                   env=server_env(venues_on_simulator, STRATEGYHUB_API_KEY=key,
                                                  PUBLIC_URL="https://hub.example.com:8443"))

    async def session() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=60) as client:
            return await agent_session(client)

    result = asyncio.run(session())
    check_session(result, alice)
    check_links(result, "https://hub.example.com:8443")


def test_mcp_server_refuses_to_start_without_a_valid_key(venues_on_simulator) -> None:
    for key in ("", "shk_nope_nope"):
        done = subprocess.run([sys.executable, MANAGE, "mcp_server"], capture_output=True, text=True, timeout=60,
                              env=server_env(venues_on_simulator, STRATEGYHUB_API_KEY=key), stdin=subprocess.DEVNULL)
        assert done.returncode == 2 and "STRATEGYHUB_API_KEY" in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def daphne(venues_on_simulator) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "strategyhub.asgi:application"],
        env=server_env(venues_on_simulator), cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError(f"daphne did not start: {process.stderr.read().decode() if process.stderr else ''}")
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=10)


def test_an_mcp_session_over_streamable_http(alice, daphne) -> None:
    key = api_key_issue(user=alice)

    async def session() -> dict[str, Any]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http, \
                Client(streamable_http_client(daphne, http_client=http), read_timeout_seconds=60) as client:
            return await agent_session(client)

    result = asyncio.run(session())
    check_session(result, alice)
    check_links(result, daphne.removesuffix("/mcp"))


def test_mcp_over_http_without_a_valid_key_is_401(daphne) -> None:
    for headers in ({}, {"Authorization": "Bearer shk_nope_nope"}):
        response = httpx2.post(daphne, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["type"] in ("not_authenticated", "authentication_failed")


TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(("headers", "status"), [
    ({"Host": "rebound.example"}, 421),  # a page on a name that now resolves to us (DNS rebinding)
    ({"Host": "rebound.example:8000"}, 421),
    ({"Origin": "http://evil.example"}, 403),  # another site's page, in the user's browser
    ({"Origin": "null"}, 403),
])
def test_mcp_over_http_refuses_a_foreign_host_or_origin(alice, daphne, headers, status) -> None:
    key = api_key_issue(user=alice)
    response = httpx2.post(daphne, json=TOOLS_LIST, headers={**MCP_HEADERS, "Authorization": f"Bearer {key}", **headers})
    assert response.status_code == status, response.text[:200]
    assert response.json()["error"]["type"] in ("misdirected_request", "permission_denied")


def test_mcp_over_http_answers_its_own_origin(alice, daphne) -> None:
    key = api_key_issue(user=alice)
    own = daphne.removesuffix("/mcp")
    for headers in ({}, {"Origin": own}, {"Origin": own.replace("127.0.0.1", "localhost")}):
        response = httpx2.post(daphne, json=TOOLS_LIST,
                               headers={**MCP_HEADERS, "Authorization": f"Bearer {key}", **headers})
        assert response.status_code == 200, response.text[:200]
        assert len(response.json()["result"]["tools"]) == len(TOOLS_BY_NAME)
