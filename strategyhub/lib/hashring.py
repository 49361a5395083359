"""A consistent hash ring: which of a changing set of nodes owns a key, moving few keys when a node comes or goes.

Each node stands at `replicas` points of a 64-bit circle (virtual nodes, so the keys spread evenly over few nodes);
a key belongs to the first point at or after its own hash. A node that leaves hands only its own keys to the others,
and one that joins takes about 1/n of the keys, so most keys keep their owner (and a worker its warm sessions).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable

REPLICAS = 64


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    def __init__(self, nodes: Iterable[str], *, replicas: int = REPLICAS) -> None:
        self.nodes = frozenset(nodes)
        points = sorted((_point(f"{node}#{index}"), node) for node in self.nodes for index in range(replicas))
        self._hashes = [point for point, _ in points]
        self._owners = [node for _, node in points]

    def owner(self, key: str) -> str | None:
        """The node that owns `key`, or None when the ring is empty."""
        if not self._hashes:
            return None
        index = bisect.bisect_left(self._hashes, _point(key)) % len(self._hashes)
        return self._owners[index]
