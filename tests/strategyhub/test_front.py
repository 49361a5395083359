"""The front (strategyhub/front.py) refuses a request whose body's end is ambiguous, before any backend sees it.

Two Content-Length headers, or one beside Transfer-Encoding, let the front and the backend split the bytes that
follow into requests differently: the next request would reach a backend unrouted and unstamped (request
smuggling). gunicorn refuses these too; the front must not rely on every backend doing so. The backend here is a
bare socket that records what reaches it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from strategyhub.front import Front

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Servers:
    def __init__(self) -> None:
        self.received = b""
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.front_port = 0

    async def _backend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            self.received += data
            writer.write(ANSWER)
        writer.close()

    async def _start(self) -> None:
        backend = await asyncio.start_server(self._backend, "127.0.0.1", 0)
        address = backend.sockets[0].getsockname()[:2]
        front = await asyncio.start_server(Front(address, address).serve, "127.0.0.1", 0)
        self.front_port = front.sockets[0].getsockname()[1]
        self.ready.set()

    def run(self) -> None:
        self.loop.run_until_complete(self._start())
        self.loop.run_forever()


@pytest.fixture
def servers() -> Iterator[Servers]:
    found = Servers()
    thread = threading.Thread(target=found.run, daemon=True)
    thread.start()
    assert found.ready.wait(10)
    yield found
    found.loop.call_soon_threadsafe(found.loop.stop)
    thread.join(10)


def send(port: int, data: bytes) -> bytes:
    """The answer: until the front closes the connection, or the backend's one answer is in."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while not answer.endswith(ANSWER) and (chunk := sock.recv(65536)):
            answer += chunk
        return answer


SMUGGLED = b"GET /mcp HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("framing", [b"Content-Length: 0\r\nContent-Length: 30", b"Content-Length: 30\r\nTransfer-Encoding: chunked",
                                     b"Content-Length: -1"])
def test_an_ambiguous_body_is_refused_before_a_backend_sees_it(servers: Servers, framing: bytes) -> None:
    answer = send(servers.front_port, b"POST /healthz HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n" + SMUGGLED)
    assert answer.startswith(b"HTTP/1.1 400") and servers.received == b""


def test_a_plain_request_passes_stamped(servers: Servers) -> None:
    answer = send(servers.front_port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n"
                                      b"Content-Length: 2\r\n\r\nhi")
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"X-Request-Start: t=" in servers.received and b"X-Forwarded-For: 127.0.0.1" in servers.received
    assert b"6.6.6.6" not in servers.received and servers.received.endswith(b"\r\n\r\nhi")
