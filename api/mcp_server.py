"""The MCP server: the tools of api/tools.py over stdio (`manage.py mcp_server`) and over
streamable HTTP at /mcp (mounted in strategyhub/asgi.py), on the official `mcp` SDK.

Both authenticate with a StrategyHub API key: stdio takes it from STRATEGYHUB_API_KEY, HTTP from each
request's `Authorization: Bearer shk_…` header. Over HTTP a request must name one of ALLOWED_HOSTS (Host) and,
when a browser sends an Origin, come from one of them or of CSRF_TRUSTED_ORIGINS, as the MCP specification
asks against DNS rebinding: else 421 or 403, before the key is even looked up. A tool call is the REST call
(tools.tool_call), so it has the key's scope and sees only the key owner's strategies.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from typing import Any
from urllib.parse import urlparse

import mcp_types as types
from asgiref.sync import sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS

from api.errors import error_body
from api.resources import (
    FILE_TEMPLATE,
    Resource,
    ResourceNotFound,
    fixed_resources,
    resource_read,
    strategy_file_resources,
)
from api.tools import TOOLS, tool_call

INSTRUCTIONS = (
    "StrategyHub runs Python trading strategies you write, in a sandbox, every N seconds against Polymarket, "
    "Kalshi or Alpaca: paper trading first, real money only after a person approves. Start with "
    "get_strategy_guide, then deploy_strategy; its answer lists every problem at once with a smoke run (a refused "
    "deploy's too): fix them all and deploy again, or, once stored, fix with update_strategy (the approved version "
    "keeps running until a person approves the new one). Watch it with list_executions, get_execution, "
    "get_positions and get_performance. Test an idea on history with run_backtest; tune its parameters with run_sweep, "
    "and trust the best only if get_sweep's deflated_sharpe is high and it holds up out_of_sample. "
    "find_markets and find_wallets say what there is to trade or copy; the guide, the config.json schema and your "
    "strategies' files are resources too (strategyhub://docs/strategies.md, "
    "strategyhub://schema/strategy-config.schema.json)."
)

# The Authorization header of the HTTP request being served (set by McpHttpApp), or the stdio key.
authorization: contextvars.ContextVar[str] = contextvars.ContextVar("strategyhub_mcp_authorization", default="")
# scheme://host[:port] of the HTTP request being served, so links lead where the agent reached us; "" on stdio.
base_url: contextvars.ContextVar[str] = contextvars.ContextVar("strategyhub_mcp_base_url", default="")


def _tools() -> list[types.Tool]:
    return [
        types.Tool(
            name=tool.name, title=tool.title, description=tool.description, input_schema=tool.input_schema(),
            output_schema=tool.output_schema(),
            annotations=types.ToolAnnotations(title=tool.title, read_only_hint=tool.read_only,
                                              destructive_hint=tool.destructive, idempotent_hint=tool.idempotent,
                                              open_world_hint=False),
        )
        for tool in TOOLS
    ]


def tools_prepare() -> None:
    """Build every tool's output schema now, at start-up: they come from the OpenAPI schema, which imports every
    view (seconds on a busy machine), and the first tools/list would otherwise wait for it."""
    _tools()


def _authorization(ctx: Any) -> str:
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None and headers.get("authorization"):
        return str(headers.get("authorization"))
    return authorization.get()


async def _list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=_tools())


async def _call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    auth = _authorization(ctx)
    if not auth:
        code, answer = 401, error_body("not_authenticated", "no API key: set STRATEGYHUB_API_KEY or send "
                                                            "Authorization: Bearer shk_…")
    else:
        code, answer = await sync_to_async(tool_call, thread_sensitive=True)(
            params.name, dict(params.arguments or {}), authorization=auth, base_url=base_url.get())
    text = json.dumps(answer, ensure_ascii=False, indent=1)
    structured = answer if isinstance(answer, dict) else {"result": answer}
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=structured,
                                is_error=code >= 400)


def _resource(resource: Resource) -> types.Resource:
    return types.Resource(uri=resource.uri, name=resource.name, title=resource.title,
                          description=resource.description, mime_type=resource.mime_type)


async def _list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
    auth = _authorization(ctx)
    mine = await sync_to_async(strategy_file_resources, thread_sensitive=True)(auth) if auth else []
    return types.ListResourcesResult(resources=[_resource(r) for r in [*fixed_resources(), *mine]])


async def _list_resource_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
        uri_template=FILE_TEMPLATE, name="strategy-file", title="A file of one of your strategies' versions",
        description="Any file of any version of one of your strategies (ids from list_strategies, numbers from "
                    "list_versions): the same text get_version returns.")])


async def _read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    try:
        resource, text = await sync_to_async(resource_read, thread_sensitive=True)(
            params.uri, authorization=_authorization(ctx), base_url=base_url.get())
    except ResourceNotFound as error:
        raise MCPError(INVALID_PARAMS, str(error), {"uri": params.uri}) from None
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=resource.uri, mime_type=resource.mime_type,
                                                                         text=text)])


def mcp_server() -> Server[Any]:
    return Server("strategyhub", version="1.0.0", instructions=INSTRUCTIONS,
                  on_list_tools=_list_tools, on_call_tool=_call_tool, on_list_resources=_list_resources,
                  on_list_resource_templates=_list_resource_templates, on_read_resource=_read_resource)


async def stdio_serve(api_key: str) -> None:
    from mcp.server.stdio import stdio_server

    authorization.set(f"Bearer {api_key}")
    server = mcp_server()
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


class McpHttpApp:
    """ASGI app for /mcp: checks the Bearer key, then hands the request to the SDK's session manager.

    Daphne sends no ASGI lifespan events, so the session manager is started on the first request, in a
    task of the server's own event loop, and lives as long as it.
    """

    def __init__(self) -> None:
        tools_prepare()
        self.manager = StreamableHTTPSessionManager(
            app=mcp_server(), json_response=True, stateless=True,
            # Host and Origin are checked first, in __call__, with Django's own rules (subdomains, DEBUG's
            # defaults), which the SDK's exact-match lists cannot express.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._started: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None

    async def _run(self, started: asyncio.Event) -> None:
        async with self.manager.run():
            started.set()
            await asyncio.Event().wait()  # until the server's loop ends

    async def _ensure_running(self) -> None:
        if self._started is None:
            self._started = asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(self._run(self._started))
        await self._started.wait()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        foreign = _foreign_host_or_origin(headers)
        if foreign is not None:
            status, type_, message = foreign
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": json.dumps(error_body(type_, message)).encode()})
            return
        auth = headers.get("authorization", "")
        if not await sync_to_async(_key_valid, thread_sensitive=True)(auth):
            body = json.dumps(error_body("not_authenticated" if not auth else "authentication_failed",
                                         "send Authorization: Bearer shk_… with a valid StrategyHub API key"))
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self._ensure_running()
        token, base = authorization.set(auth), base_url.set(_request_base_url(scope, headers))
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            authorization.reset(token)
            base_url.reset(base)


def _request_base_url(scope: dict[str, Any], headers: dict[str, str]) -> str:
    """The request's own scheme://host[:port] (its Host already checked), https when a trusted proxy says so."""
    scheme = str(scope.get("scheme") or "http")
    proxy_header = settings.SECURE_PROXY_SSL_HEADER  # ("HTTP_X_FORWARDED_PROTO", "https") when behind a proxy
    if proxy_header:
        name, value = proxy_header
        if headers.get(name.removeprefix("HTTP_").replace("_", "-").lower()) == value:
            scheme = "https"
    return f"{scheme}://{headers['host']}"


def _foreign_host_or_origin(headers: dict[str, str]) -> tuple[int, str, str] | None:
    """(status, error type, message) for a Host that is not one of ALLOWED_HOSTS (421) or an Origin that is neither
    one of them nor of CSRF_TRUSTED_ORIGINS (403); None for our own. A request without Origin is not a browser's."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]  # what Django itself allows then
    host = headers.get("host", "")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts):
        return 421, "misdirected_request", f"Host {host!r} is not one of ALLOWED_HOSTS"
    origin = headers.get("origin")
    # Channels' websocket origin check, with Django's "https://*.example.com" trusted origins in its ".example.com"
    trusted = [*allowed_hosts, *(o.replace("://*.", "://.", 1) for o in settings.CSRF_TRUSTED_ORIGINS)]
    if origin is not None and not OriginValidator(None, trusted).validate_origin(urlparse(origin)):
        return 403, "permission_denied", f"Origin {origin!r} is not one of ALLOWED_HOSTS or CSRF_TRUSTED_ORIGINS"
    return None


def _key_valid(header: str) -> bool:
    from django.db import close_old_connections

    from accounts.services import api_key_find

    if not header.startswith("Bearer "):
        return False
    close_old_connections()
    return api_key_find(header[len("Bearer "):].strip()) is not None
