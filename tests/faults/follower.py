"""A websocket follower of one strategy, as a browser tab would be: a real client through daphne, on its
own event loop in a thread, recording each event, when it arrived, and every close."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from typing import Any

from django.test import Client
from django.utils import timezone


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


class BrowserFollower:
    """A browser tab's websocket through the real daphne (`url`): a `websockets` client in a thread that
    reconnects after every close (as static/js/live.js does), recording events and close codes."""

    def __init__(self, url: str, user: Any) -> None:
        self.url = url
        self.cookie = session_cookie(user).decode()
        self.events: list[tuple[datetime, dict[str, Any]]] = []
        self.closed: list[tuple[datetime, int | None]] = []
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._follow()), daemon=True)

    def __enter__(self) -> BrowserFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    async def _follow(self) -> None:
        import websockets

        delay = 0.5
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, open_timeout=5, close_timeout=2,
                                              additional_headers={"Cookie": self.cookie,
                                                                  "Origin": "http://127.0.0.1"}) as socket:
                    self.connections += 1
                    delay = 0.5
                    while not self._stop.is_set():
                        try:
                            raw = await asyncio.wait_for(socket.recv(), timeout=0.5)
                        except TimeoutError:
                            continue
                        self.events.append((timezone.now(), json.loads(raw)))
            except websockets.ConnectionClosed as closed:
                self.closed.append((timezone.now(), closed.rcvd.code if closed.rcvd else None))
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                self.closed.append((timezone.now(), None))  # refused while Redis is down: try again
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4)
