"""A websocket follower of one strategy, as a browser tab would be: the real consumer in this process,
on its own event loop in a thread, recording each event and when it arrived."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from django.utils import timezone

from strategyhub.asgi import application


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


class Follower:
    def __init__(self, strategy_id: int, user: Any) -> None:
        self.path = f"/ws/strategies/{strategy_id}/"
        self.headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", session_cookie(user))]
        self.events: list[tuple[datetime, dict[str, Any]]] = []
        self.closed: list[tuple[datetime, str]] = []  # the socket closing or the consumer failing, and why
        self.connected = threading.Event()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._follow()), daemon=True)

    def __enter__(self) -> Follower:
        self._thread.start()
        if not self.connected.wait(15):
            raise AssertionError(f"the websocket {self.path} did not connect: {self.closed}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def received_since(self, moment: datetime) -> list[dict[str, Any]]:
        return [event for at, event in list(self.events) if at > moment]

    async def _follow(self) -> None:
        """Follow until stopped; when the server closes the socket, connect again, as the page does."""
        try:
            while not self._stop.is_set():
                await self._connect_and_receive()
        finally:
            await sync_to_async(connections.close_all)()  # this loop's database thread: no session left behind

    async def _connect_and_receive(self) -> None:
        communicator = WebsocketCommunicator(application, self.path, headers=self.headers)
        try:
            connected, code = await communicator.connect(timeout=10)
        except TimeoutError:
            self.closed.append((timezone.now(), "connect timed out"))
            return
        try:
            if not connected:
                self.closed.append((timezone.now(), f"refused: {code}"))
                await asyncio.sleep(0.5)
                return
            self.connections += 1
            self.connected.set()
            await self._receive(communicator)
        finally:
            if not communicator.future.done():
                await communicator.disconnect()

    async def _receive(self, communicator: WebsocketCommunicator) -> None:
        while not self._stop.is_set():
            if communicator.future.done():  # the consumer ended without closing: record why
                self.closed.append((timezone.now(), f"consumer ended: {communicator.future.exception()!r}"))
                return
            if await communicator.receive_nothing(timeout=0.2):  # receive_*_from would cancel on a timeout
                continue
            output = await communicator.receive_output()
            if output["type"] == "websocket.close":
                self.closed.append((timezone.now(), f"closed: {output.get('code')}"))
                return
            self.events.append((timezone.now(), json.loads(output["text"])))
