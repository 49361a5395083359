"""Live logs: persisted rows reach the strategy owner's websocket, and nobody else's."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis import Redis

from strategies.cycle.run import execution_run
from strategies.events import execution_broadcast
from strategies.models import Execution, ExecutionLog
from strategies.services import strategy_deploy
from strategyhub.asgi import application
from tests.conftest import example_files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.storage]


@pytest.fixture(autouse=True)
def _hosts(settings, redis_url) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1"]


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def follow(path: str, cookie: bytes | None, then: Any = None) -> tuple[bool, Any, Any]:
    async def scenario() -> tuple[bool, Any, Any]:
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        if cookie:
            headers.append((b"cookie", cookie))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect(timeout=5)
        received = None
        if connected and then is not None:
            await then()
            received = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return connected, code, received

    return async_to_sync(scenario)()


def refusal(path: str, cookie: bytes | None) -> tuple[str, int | None]:
    """How the server ends a socket it will not serve: accepted, then closed with a code the page can read
    (a handshake refusal reaches a browser only as 1006)."""
    async def scenario() -> tuple[str, int | None]:
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        if cookie:
            headers.append((b"cookie", cookie))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        if not connected:
            return "refused at handshake", None
        message = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return message["type"], message.get("code")

    return async_to_sync(scenario)()


def test_the_owner_receives_persisted_log_lines_with_sequence_numbers(alice) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    now = timezone.now()
    execution = Execution.objects.create(strategy=version.strategy, version=version, trigger="manual", mode="paper",
                                         status="succeeded", scheduled_for=now, started_at=now, finished_at=now)
    for seq, message in enumerate(["scanned 4 markets", "0 favourites"], start=1):
        ExecutionLog.objects.create(execution=execution, seq=seq, ts=now, message=message)

    async def broadcast() -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(execution_broadcast)(execution)

    connected, _, event = follow(f"/ws/strategies/{version.strategy_id}/", session_cookie(alice), broadcast)
    assert connected
    assert event["execution"]["id"] == str(execution.pk) and event["execution"]["status"] == "succeeded"
    assert [(line["seq"], line["message"]) for line in event["logs"]] == [(1, "scanned 4 markets"), (2, "0 favourites")]


def test_a_run_nobody_follows_is_broadcast_with_one_redis_command_and_no_query(alice, redis_url) -> None:
    """Most strategies have no follower when a run ends: the layer's group_send would still expire and list the
    group (two round trips) after the event was built (its rows read back when not passed). One ZCARD instead."""
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    now = timezone.now()
    execution = Execution.objects.create(strategy_id=version.strategy_id, version=version, trigger="manual",
                                         mode="paper", status="succeeded", scheduled_for=now, started_at=now,
                                         finished_at=now)
    redis = Redis.from_url(redis_url)
    redis.config_resetstat()
    with CaptureQueriesContext(connection) as queries:
        execution_broadcast(execution)  # no logs passed: building the event would read them
    calls = {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in redis.info("commandstats").items()}
    assert (calls.get("zcard"), calls.get("zrange"), calls.get("zremrangebyscore")) == (1, None, None), calls
    assert queries.captured_queries == []


def test_another_user_cannot_follow_a_strategy(alice, make_user) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    assert refusal(f"/ws/strategies/{version.strategy_id}/", session_cookie(make_user("mallory"))) == (
        "websocket.close", 4403)


def test_an_anonymous_visitor_cannot_follow(alice) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    assert refusal(f"/ws/strategies/{version.strategy_id}/", None) == ("websocket.close", 4403)


SLOW = {"entry.py": "import time\n\ndef should_enter(ctx):\n    ctx.log('first')\n    time.sleep(1.5)\n"
                    "    ctx.log('second')\n    return []\n",
        "exit.py": "def should_exit(ctx, position):\n    return None\n"}


def test_a_long_cycle_streams_each_line_while_it_runs(alice, staff) -> None:
    files = {**example_files("kalshi_favourite_longshot"), **SLOW}
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    finished = threading.Event()
    cookie = session_cookie(alice)

    def cycle() -> None:
        try:
            execution_run(strategy_id=strategy.pk, trigger="manual", dry_run=True)
        finally:
            connection.close()
            finished.set()

    async def scenario() -> list[tuple[bool, dict[str, Any]]]:
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", cookie)]
        communicator = WebsocketCommunicator(application, f"/ws/strategies/{strategy.pk}/", headers=headers)
        assert (await communicator.connect(timeout=5))[0]
        threading.Thread(target=cycle).start()
        events: list[tuple[bool, dict[str, Any]]] = []
        while not events or events[-1][1]["execution"]["status"] == "running":
            event = await communicator.receive_json_from(timeout=10)
            events.append((finished.is_set(), event))  # whether the cycle had ended when this arrived
        await communicator.disconnect()
        return events

    seen = async_to_sync(scenario)()
    finished.wait(10)
    first_done, first = seen[0]
    assert first["execution"]["status"] == "running" and not first_done  # it arrived while the script slept
    assert [(line["seq"], line["message"]) for line in first["logs"]] == [
        (1, "run started: dry run, paper, version 1"), (2, "first")]
    lines = [(line["seq"], line["message"]) for _, event in seen for line in event["logs"]]
    assert lines[:3] == [(1, "run started: dry run, paper, version 1"), (2, "first"), (3, "second")]  # once, in order
    assert [seq for seq, _ in lines] == list(range(1, len(lines) + 1))
    assert seen[-1][1]["execution"]["status"] == "succeeded"
    execution = Execution.objects.get(strategy=strategy)
    assert list(execution.logs.exclude(level="system").values_list("seq", "message")) == [(2, "first"), (3, "second")]


def test_an_idle_follower_outlives_the_layers_blocking_read(redis_url) -> None:
    """The layer's receive blocks in BZPOPMIN for `brpop_timeout` s; a socket timeout no longer than that
    (redis-py 8's default is 5 s) ends every websocket that has had nothing to say for 5 s."""
    from channels.layers import get_channel_layer

    async def idle() -> bool:
        layer = get_channel_layer()
        task = asyncio.ensure_future(layer.receive(await layer.new_channel()))
        await asyncio.sleep(layer.brpop_timeout + 1)
        alive = not task.done()
        task.cancel()
        return alive

    assert async_to_sync(idle)()
