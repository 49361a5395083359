"""The HTTP plumbing every simulated venue shares: requests, responses, routing and faults."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from trading.simulator.faults import Fault, FaultPlan

MALFORMED_BODY = b'{"data": [{"unterminated": '


class SimError(Exception):
    """Raised by a venue handler: answered with the venue's own error shape."""

    def __init__(self, status: int, message: str, *, payload: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.payload = payload
        self.headers = headers or {}


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str  # the venue-relative path, without the query string
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def params(self, name: str) -> list[str]:
        """Every value of a repeated or comma-separated parameter."""
        return [part for value in self.query.get(name, []) for part in value.split(",") if part]

    def header(self, name: str) -> str:
        return self.headers.get(name, "") or ""

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise SimError(400, f"invalid JSON body: {error}") from error


@dataclass
class SimResponse:
    status: int = 200
    payload: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class VenueApp(Protocol):
    """One venue (or one of its hosts) mounted under a path prefix."""

    venue: str

    def handle(self, request: SimRequest) -> SimResponse: ...

    def error_payload(self, status: int, message: str) -> Any: ...


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode_json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=_json_default).encode()


@dataclass
class RequestCounters:
    """Requests served per venue; read by the control endpoint and the benchmark."""

    by_venue: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, venue: str) -> None:
        with self._lock:
            self.by_venue[venue] = self.by_venue.get(venue, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.by_venue)


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        routes: list[tuple[str, VenueApp]],
        faults: FaultPlan,
        control: Callable[[SimRequest], SimResponse],
    ):
        # Longest prefix first so /polymarket/clob never shadows a longer mount.
        self.routes = sorted(routes, key=lambda route: len(route[0]), reverse=True)
        self.faults = faults
        self.control = control
        self.counters = RequestCounters()
        super().__init__(address, SimulatorRequestHandler)

    def route(self, path: str) -> tuple[VenueApp, str] | None:
        for prefix, app in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return app, path[len(prefix) :] or "/"
        return None


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    disable_nagle_algorithm = True  # small JSON answers must not wait for delayed ACKs
    server: SimulatorHTTPServer
    server_version = "StrategyHubVenueSimulator/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if split.path.startswith("/_sim"):
            request = SimRequest(self.command, split.path, parse_qs(split.query), self.headers, body)
            self._send(self._guarded(self.server.control, request, None))
            return
        routed = self.server.route(split.path)
        if routed is None:
            self._send(SimResponse(404, {"error": f"no simulated venue at {split.path}"}))
            return
        app, venue_path = routed
        self.server.counters.count(app.venue)
        request = SimRequest(self.command, venue_path, parse_qs(split.query), self.headers, body)
        fault = self.server.faults.pick(app.venue, self.command, venue_path, "before")
        if fault is not None:
            response = self._misbehave(fault, app, None)
            if response is None:
                return
            if fault.kind != "latency":
                self._send(response)
                return
        response = self._guarded(app.handle, request, app)
        fault = self.server.faults.pick(app.venue, self.command, venue_path, "after")
        if fault is not None:
            altered = self._misbehave(fault, app, response)
            if altered is None:
                return
            response = altered
        self._send(response)

    def _guarded(
        self, handler: Callable[[SimRequest], SimResponse], request: SimRequest, app: VenueApp | None
    ) -> SimResponse:
        try:
            return handler(request)
        except SimError as error:
            payload = error.payload
            if payload is None:
                payload = app.error_payload(error.status, error.message) if app else {"error": error.message}
            return SimResponse(error.status, payload, headers=error.headers)
        except Exception as error:  # a simulator bug must answer 500, not kill the connection
            message = f"simulator error: {type(error).__name__}: {error}"
            return SimResponse(500, app.error_payload(500, message) if app else {"error": message})

    def _misbehave(self, fault: Fault, app: VenueApp, response: SimResponse | None) -> SimResponse | None:
        """Apply a fault; None means the connection was dropped without an answer."""
        if fault.kind == "latency":
            time.sleep(fault.delay_seconds)
            return response if response is not None else SimResponse()
        if fault.kind == "timeout":
            time.sleep(fault.delay_seconds or 5.0)
            self.close_connection = True
            return None
        if fault.kind == "disconnect":
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may already be gone
                self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault.kind == "malformed":
            return SimResponse(200, raw=MALFORMED_BODY, headers={"Content-Type": "application/json"})
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return SimResponse(fault.status, app.error_payload(fault.status, fault.message), headers=headers)

    def _send(self, response: SimResponse) -> None:
        if response.raw is not None:
            body = response.raw
        elif response.payload is None and response.status == 204:
            body = b""
        else:
            body = encode_json(response.payload)
        self.send_response(response.status)
        headers: Mapping[str, str] = response.headers
        if "Content-Type" not in headers and body:
            self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
