"""Websocket routes. Consumers live in their apps; this list only wires them."""

from django.urls import URLPattern, URLResolver

websocket_urlpatterns: list[URLPattern | URLResolver] = []
