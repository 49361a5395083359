"""One Redis client per process for the hot paths that want a single pipelined round trip (the API's throttle and
its key cache's revocation check), where Django's cache API would cost a round trip (and a pickle) per command.

redis-py's pool is thread-safe and starts afresh in a forked child (a gunicorn or Celery worker process).
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)


def shared_redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


def shared_key(name: str) -> str:
    """A key in this deployment's namespace (CACHE_KEY_PREFIX), so deployments sharing one Redis stay apart."""
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{name}"
