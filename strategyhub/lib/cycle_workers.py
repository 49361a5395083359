"""The cycle workers alive now, each with a queue of its own: the tick routes a strategy to the one that owns it.

A worker that serves the main queue also consumes `<CELERY_QUEUE>.cycles.<its name>` (its name: the Celery node
name and this host's boot id and PID namespace, so two hosts cloned from one image never share a queue) and says it
is alive every CYCLE_WORKER_BEAT_SECONDS in a Redis sorted set (member: its queue, score: when). A worker silent
for CYCLE_WORKER_TTL_SECONDS is gone: cut off, killed, or stopped (a clean stop leaves at once). The tick reads the
live ones and hashes each strategy version onto them (strategyhub.lib.hashring).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from strategyhub.lib.redis_client import shared_key, shared_redis
from strategyhub.lib.workers import this_host

logger = logging.getLogger(__name__)

CYCLE_WORKER_BEAT_SECONDS = 1.0
CYCLE_WORKER_TTL_SECONDS = 5.0


def _key() -> str:
    return shared_key(f"cycle-workers:{settings.CELERY_TASK_DEFAULT_QUEUE}")


def cycle_worker_queue(nodename: str) -> str:
    """The queue of the worker called `nodename` (e.g. celery@host) on this host."""
    return f"{settings.CELERY_TASK_DEFAULT_QUEUE}.cycles.{nodename}/{this_host()}"


def cycle_worker_beat(queue: str, *, now: float | None = None) -> None:
    shared_redis().zadd(_key(), {queue: time.time() if now is None else now})


def cycle_worker_gone(queue: str) -> None:
    shared_redis().zrem(_key(), queue)


def cycle_workers_live(*, now: float | None = None) -> list[str]:
    """The queues of the workers heard from within CYCLE_WORKER_TTL_SECONDS; the silent ones are dropped."""
    since = (time.time() if now is None else now) - CYCLE_WORKER_TTL_SECONDS
    pipe = shared_redis().pipeline()
    pipe.zremrangebyscore(_key(), "-inf", f"({since}")
    pipe.zrangebyscore(_key(), since, "+inf")
    return sorted(member.decode() for member in pipe.execute()[1])


class CycleWorkerHeartbeat:
    """A daemon thread of the worker's main process that says `queue` is alive until `stop`."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="cycle-worker-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        try:
            cycle_worker_gone(self.queue)
        except Exception as exc:  # Redis is down (or stopped first, as `make run` does): the entry expires by itself
            logger.warning("could not say that %s stops (%s): it is dropped once silent", self.queue, exc)

    def _beat(self) -> None:
        while not self._stopped.is_set():
            try:
                cycle_worker_beat(self.queue)
            except Exception as exc:  # Redis restarting: the tick routes around this worker until it is heard again
                logger.warning("cycle worker heartbeat failed: %s", exc)
            self._stopped.wait(CYCLE_WORKER_BEAT_SECONDS)
