"""The websocket a strategy page follows: authenticated, owner only, updates only (history is HTTP)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from strategies.events import strategy_group
from strategies.models import Strategy

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
# The channel layer (Redis) was lost, e.g. restarted: its groups went with it. The client reconnects,
# which joins the group again, and reloads history over HTTP for what it missed (de-duplicated by seq).
# 1012 ("service restart") would say it best, but daphne accepts only 1000 and 3000-4999 from an application.
RECONNECT = 4012


class StrategyEventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (RedisError, OSError) as exc:
            logger.warning("live logs: the channel layer failed (%r); closing the socket with %s so the client "
                           "reconnects and reloads history", exc, RECONNECT)
            await send({"type": "websocket.close", "code": RECONNECT})

    async def connect(self) -> None:
        user = self.scope.get("user")
        strategy_id = int(self.scope["url_route"]["kwargs"]["strategy_id"])
        if user is None or not user.is_authenticated or not await self._owns(user.pk, strategy_id):
            # Accept, then close with our code: a socket refused at the handshake reaches a browser as a bare
            # 1006 (daphne answers 403), and the page could not tell "not yours" from a dropped connection.
            await self.accept()
            await self.close(code=FORBIDDEN)
            return
        self.group = strategy_group(strategy_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            # Redis is down: a stale member only collects messages that expire unread.
            with contextlib.suppress(RedisError, OSError):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def strategy_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    @database_sync_to_async  # type: ignore[untyped-decorator]
    def _owns(self, user_id: int, strategy_id: int) -> bool:
        return Strategy.objects.filter(pk=strategy_id, owner_id=user_id).exists()
