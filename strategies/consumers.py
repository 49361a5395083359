"""The websocket a strategy page follows: authenticated, owner only, updates only (history is HTTP)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from strategies.events import strategy_group
from strategies.models import Strategy

FORBIDDEN = 4403


class StrategyEventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        user = self.scope.get("user")
        strategy_id = int(self.scope["url_route"]["kwargs"]["strategy_id"])
        if user is None or not user.is_authenticated or not await self._owns(user.pk, strategy_id):
            await self.close(code=FORBIDDEN)
            return
        self.group = strategy_group(strategy_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def strategy_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    @database_sync_to_async  # type: ignore[untyped-decorator]
    def _owns(self, user_id: int, strategy_id: int) -> bool:
        return Strategy.objects.filter(pk=strategy_id, owner_id=user_id).exists()
