"""The Procfile's `web` as it runs in production and under `make run` (strategyhub/stack.py serve): the front on one
port routes /mcp to daphne and the rest to gunicorn, and gunicorn sheds a request that waited past its deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.faults.services import Celery, project_env, shared_database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web(django_db_blocker: Any, tmp_path: Path) -> Iterator[tuple[str, Celery]]:
    with django_db_blocker.unblock():
        database_url = shared_database_url()
    services = Celery(project_env(database_url=database_url, redis_url=settings.REDIS_URL, LOG_LEVEL="WARNING",
                                  WEB_QUEUE_DEADLINE_MS="500"), tmp_path)
    try:
        yield f"http://127.0.0.1:{services.start_web()}", services
    finally:
        services.stop_all()


def raw_get(port: int, path: str, *headers: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        extra = "".join(f"{header}\r\n" for header in headers)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_the_front_routes_by_path_and_gunicorn_sheds_what_waited_too_long(web) -> None:
    base, services = web
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}  # gunicorn
        refused = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                            headers={"Accept": "application/json, text/event-stream"})
        assert refused.status_code == 401  # the MCP server (daphne), asking for a key
        assert http.get("/api/v1/strategies/").json()["error"]["type"] == "not_authenticated"  # the same connection
        assert http.get("/mcp").status_code in (401, 405, 406)  # and back to daphne on it
    web_port = int(services.env["WEB_PORT"])
    stale = f"X-Request-Start: t={time.time() - 5:.3f}"
    shed = raw_get(web_port, "/healthz", stale)
    assert shed.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in shed and b'"overloaded"' in shed
    assert raw_get(web_port, "/healthz", f"X-Request-Start: t={time.time():.3f}").startswith(b"HTTP/1.1 200")
    front_port = int(base.rsplit(":", 1)[1])
    # A client cannot make itself (or anyone) shed: the front replaces X-Request-Start with its own.
    assert raw_get(front_port, "/healthz", stale).startswith(b"HTTP/1.1 200")

