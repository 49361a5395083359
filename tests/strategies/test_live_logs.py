"""Live logs: persisted rows reach the strategy owner's websocket, and nobody else's."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

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


def test_another_user_cannot_follow_a_strategy(alice, make_user) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    connected, code, _ = follow(f"/ws/strategies/{version.strategy_id}/", session_cookie(make_user("mallory")))
    assert (connected, code) == (False, 4403)


def test_an_anonymous_visitor_cannot_follow(alice) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    connected, code, _ = follow(f"/ws/strategies/{version.strategy_id}/", None)
    assert (connected, code) == (False, 4403)
