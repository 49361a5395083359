"""ASGI entry point: HTTP through Django, /mcp through the MCP server, websockets through Channels."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strategyhub.settings")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

# Under ASGI each request's sync code runs in a thread of its own, so a connection kept per thread is never
# reused and piles up until Postgres refuses new clients (Django's docs: no persistent connections under
# ASGI). The web process closes its connection after every request instead, and that close hands
# it back to a pool of DATABASE_POOL_SIZE connections (psycopg-pool): reused, and bounded. Workers keep theirs.
for database in settings.DATABASES.values():
    database["CONN_MAX_AGE"] = 0
    if settings.DATABASE_POOL_SIZE:
        # A request waits up to `timeout` seconds for a free connection, then fails (logged, 500).
        database.setdefault("OPTIONS", {})["pool"] = {"min_size": min(2, settings.DATABASE_POOL_SIZE),
                                                      "max_size": settings.DATABASE_POOL_SIZE, "timeout": 10}

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from api.mcp_server import McpHttpApp  # noqa: E402
from strategyhub.routing import websocket_urlpatterns  # noqa: E402

mcp_app = McpHttpApp()

from django.urls import get_resolver  # noqa: E402

# Every view module now, before the server listens: the venue SDKs they import take seconds (pandas, the
# Polymarket and Alpaca clients), which the first request would otherwise wait for (and a client time out on).
get_resolver().url_patterns  # noqa: B018


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/mcp (and /mcp/) goes to the MCP server; everything else to Django."""
    if scope["path"].rstrip("/") == "/mcp":
        await mcp_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
