"""The process in front for `make run` (and any single machine): one port, routed by path.

    python -m strategyhub.front --bind 127.0.0.1:8000 --http 127.0.0.1:8001 --asgi 127.0.0.1:8002

Websockets (`/ws/…`) and MCP (`/mcp`) go to the ASGI process (daphne), everything else to `web` (gunicorn).
Each request's head is read to route it and stamped with `X-Request-Start` (when it arrived, for the web
process's queue deadline, strategyhub/lib/shedding.py) and `X-Forwarded-For`; bodies and answers pass through as
bytes. A client connection keeps one connection to each backend it used; an upgraded (websocket) or chunked
request hands the rest of the connection over as it is. Clients must not pipeline (no browser or HTTP library
does by default): a request is read once the answer before it is out. Production puts its own router there
(docs/deploying.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time

HEAD_LIMIT = 64 * 1024
# A client connection idle this long between requests is closed by the front, with its backend connections. gunicorn
# keeps an idle connection longer (WEB_KEEPALIVE, 75 s), so the front closes first: had gunicorn closed an idle
# backend connection first, a request arriving at that moment was written to it and lost (a 5 s timeout in
# bench_http, 2 of 2,000 requests at 200 req/s).
IDLE_SECONDS = 60
DROP = (b"x-request-start:", b"x-forwarded-for:")


def is_asgi(target: bytes) -> bool:
    path = target.split(b"?", 1)[0]
    return path.startswith(b"/ws/") or path == b"/mcp" or path.startswith(b"/mcp/")


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


class Front:
    def __init__(self, http: tuple[str, int], asgi: tuple[str, int]) -> None:
        self.backends = {False: http, True: asgi}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstreams: dict[bool, asyncio.StreamWriter] = {}
        pumps: list[asyncio.Task[None]] = []
        peer = writer.get_extra_info("peername")
        client = (peer[0] if isinstance(peer, tuple) else "127.0.0.1").encode()
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_SECONDS)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, TimeoutError):
                    return
                arrived = time.time()
                lines = head[:-4].split(b"\r\n")
                parts = lines[0].split(b" ")
                if len(parts) != 3:
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                asgi = is_asgi(parts[1])
                length, raw, lengths, encodings = 0, False, 0, 0
                kept = [lines[0], b"X-Request-Start: t=%.6f" % arrived, b"X-Forwarded-For: " + client]
                for line in lines[1:]:
                    lower = line.lower()
                    if lower.startswith(DROP):
                        continue
                    if lower.startswith(b"content-length:"):
                        length, lengths = int(line.split(b":", 1)[1]), lengths + 1
                    elif lower.startswith(b"transfer-encoding:") or lower.startswith(b"upgrade:"):
                        raw = True  # chunked or a websocket: the rest of the connection passes through
                        encodings += lower.startswith(b"transfer-encoding:")
                    kept.append(line)
                if lengths > 1 or (lengths and encodings) or length < 0:
                    # Where the body ends would be ambiguous: the front and the backend could read the next request
                    # from different bytes (request smuggling). Refused, and the connection closed.
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    await writer.drain()
                    return
                upstream = upstreams.get(asgi)
                if upstream is None or upstream.is_closing():
                    up_reader, upstream = await asyncio.open_connection(*self.backends[asgi])
                    upstreams[asgi] = upstream
                    pumps.append(asyncio.create_task(self._pump(up_reader, writer)))
                upstream.write(b"\r\n".join(kept) + b"\r\n\r\n")
                if raw:
                    await self._pump(reader, upstream)
                    return
                while length > 0:
                    chunk = await reader.read(min(length, 65536))
                    if not chunk:
                        return
                    upstream.write(chunk)
                    length -= len(chunk)
                await upstream.drain()
        except (ConnectionError, OSError, ValueError):
            return
        finally:
            for task in pumps:
                task.cancel()
            for stream in (*upstreams.values(), writer):
                stream.close()

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Bytes from `source` to `sink` until either ends; then the client's connection closes too (a backend
        that closed its side, keep-alive expired, is reopened by the client's next connection)."""
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        sink.close()


async def run(bind: tuple[str, int], http: tuple[str, int], asgi: tuple[str, int], backlog: int) -> None:
    front = Front(http, asgi)
    server = await asyncio.start_server(front.serve, *bind, backlog=backlog, limit=HEAD_LIMIT)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1:8000")
    parser.add_argument("--http", default="127.0.0.1:8001", help="the web process (gunicorn)")
    parser.add_argument("--asgi", default="127.0.0.1:8002", help="the websocket and MCP process (daphne)")
    parser.add_argument("--backlog", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(run(_address(args.bind), _address(args.http), _address(args.asgi), args.backlog))


if __name__ == "__main__":
    main()
