"""The MCP server over stdio, for an agent host that starts it as a command (docs/api.md)."""

from __future__ import annotations

import os
from typing import Any

import anyio
from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_key_find
from api.mcp_server import stdio_serve, tools_prepare


class Command(BaseCommand):
    help = "Serve StrategyHub's tools over MCP on stdin/stdout, as the owner of STRATEGYHUB_API_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        api_key = os.environ.get("STRATEGYHUB_API_KEY", "").strip()
        if not api_key:
            raise CommandError("STRATEGYHUB_API_KEY is not set: issue one with `manage.py issue_api_key USERNAME`",
                               returncode=2)
        if api_key_find(api_key) is None:
            raise CommandError("STRATEGYHUB_API_KEY is not a valid, unrevoked API key", returncode=2)
        tools_prepare()  # before the host's first request, not during it
        anyio.run(stdio_serve, api_key)
