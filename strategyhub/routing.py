"""Websocket routes. Consumers live in their apps; this list only wires them."""

from django.urls import URLPattern, URLResolver, path

from strategies.consumers import StrategyEventsConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/strategies/<int:strategy_id>/", StrategyEventsConsumer.as_asgi()),
]
