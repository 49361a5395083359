"""The framed JSON channel between the worker and a sandboxed run.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON holding one
object with a ``type``. Never pickle: the worker decodes only JSON, with a size cap, and rejects
NaN and Infinity so nothing it stores later can fail to serialize.

Sandbox -> worker: ``ready`` (layers applied), ``log``, ``call`` (venue request), ``result``.
Worker -> sandbox: ``spec`` (the run: limits, files, ctx), ``reply`` (to a ``call``).
"""

from __future__ import annotations

import json
import os
import select
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed frame."""


def wait_ready(fd: Any, timeout: float, *, write: bool = False) -> bool:
    """Whether `fd` (a descriptor or a socket) is readable (writable) within `timeout` seconds. poll(), not
    select(): a worker holding many warm sessions has descriptors past select()'s limit of 1,024."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(max(0.0, timeout) * 1000))


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not valid JSON")


# Built once: json.dumps and json.loads given options build a new encoder or decoder at every call (≈1-2 µs), and
# the worker encodes and decodes a few frames per step of a backtest. They keep no state between calls. One encoder
# per `default` (a module's function: callers pass None or the worker's json_default).
_ENCODERS: dict[Callable[[Any], Any] | None, json.JSONEncoder] = {}
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def encode_json(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as a frame carries it: compact, UTF-8 as is, no NaN; `default` converts what json cannot."""
    encoder = _ENCODERS.get(default)
    if encoder is None:
        encoder = _ENCODERS[default] = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                                                        default=default)
    return encoder.encode(value)


def frame_bytes(payload: bytes) -> bytes:
    """One frame of an encoded payload: its length, then it."""
    return HEADER.pack(len(payload)) + payload


def encode_frame(message: dict[str, Any], default: Callable[[Any], Any] | None = None) -> bytes:
    """One frame; `default` converts values json cannot (the worker's Decimals and datetimes)."""
    return frame_bytes(encode_json(message, default).encode())


def decode_payload(payload: bytes) -> dict[str, Any]:
    try:
        message = _DECODER.decode(payload.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"frame is not JSON: {type(error).__name__}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("frame is not an object with a type")
    return message


class FrameDecoder:
    """Turns a byte stream into frames, refusing any frame over `max_frame_bytes`."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        frames: list[dict[str, Any]] = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self.max_frame_bytes:
                raise ProtocolError(f"frame of {length} bytes is over the {self.max_frame_bytes}-byte limit")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append(decode_payload(bytes(self._buffer[HEADER.size : end])))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)


class BlockingChannel:
    """The sandbox's end: blocking send and receive on an inherited descriptor."""

    def __init__(self, fd: int, max_frame_bytes: int) -> None:
        self.fd = fd
        self.max_frame_bytes = max_frame_bytes
        self.buffer = b""  # what one read brought beyond the frame asked for: frames the worker already sent

    def send(self, message: dict[str, Any]) -> None:
        data = memoryview(encode_frame(message))
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def _read_exactly(self, size: int) -> bytes:
        # One read usually brings a whole frame, header and payload: half the system calls of reading each.
        chunks, have = [self.buffer], len(self.buffer)
        while have < size:
            chunk = os.read(self.fd, max(size - have, 1 << 16) if size - have < 1 << 20 else 1 << 20)
            if not chunk:
                raise ProtocolError("channel closed by the worker")
            chunks.append(chunk)
            have += len(chunk)
        data = b"".join(chunks)
        self.buffer = data[size:]
        return data[:size]

    def receive_bytes(self) -> bytes:
        """One whole frame, header included, not decoded (a warm session hands a cycle's frame to its child)."""
        header = self._read_exactly(HEADER.size)
        (length,) = HEADER.unpack(header)
        if length > self.max_frame_bytes:
            raise ProtocolError(f"frame of {length} bytes is over the {self.max_frame_bytes}-byte limit")
        return header + self._read_exactly(length)

    def receive(self) -> dict[str, Any]:
        (length,) = HEADER.unpack(self._read_exactly(HEADER.size))
        if length > self.max_frame_bytes:
            raise ProtocolError(f"frame of {length} bytes is over the {self.max_frame_bytes}-byte limit")
        return decode_payload(self._read_exactly(length))
