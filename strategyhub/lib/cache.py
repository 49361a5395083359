"""Django's Redis cache with one client, hence one connection pool, per process.

Django keeps a cache object per async context, and under ASGI every request runs in a context of its
own: with the stock backend each request built a new client and opened a new Redis connection (a TCP
handshake, a HELLO, even a read of redis-py's package metadata) for its two throttle commands.
redis-py's pool is thread-safe and resets itself in a forked child (a Celery worker process).
"""

from __future__ import annotations

import re
import threading
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property


class SharedRedisCache(RedisCache):
    _clients: ClassVar[dict[str, RedisCacheClient]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._shared_servers = re.split("[;,]", server) if isinstance(server, str) else server  # as RedisCache
        self._shared_options: dict[str, Any] = params.get("OPTIONS", {})

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = repr((self._shared_servers, sorted(self._shared_options.items())))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = RedisCacheClient(self._shared_servers, **self._shared_options)
        return client
