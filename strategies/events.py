"""Live updates: persisted log lines, actions and execution states, broadcast to the strategy's group.

Always called after the rows are committed (persist, then broadcast). Messages carry the
execution id and each row's sequence number, so a page that loaded history over HTTP follows
the socket without gaps or repeats by ignoring what it already has.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

from strategies.market_words import Words, action_words, long_ids, market_names, named
from strategies.models import Backtest, Execution, ExecutionAction, ExecutionLog
from trading.models import Position

logger = logging.getLogger(__name__)

BROADCAST_TIMEOUT = 5.0  # seconds; a broadcast that takes longer is logged and dropped, the run is persisted


class _LayerLoop:
    """One event loop per process, in a daemon thread, that every broadcast runs on.

    `async_to_sync` per call starts a new event loop, and the channel layer keeps its Redis
    connections per loop, so each broadcast paid a loop, a thread hand-off and a fresh Redis
    connection. Reusing one loop keeps the layer's connection open between broadcasts. A forked
    process (a prefork worker child) does not inherit the thread, so it starts its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="channel-layer-loop", daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise


_layer_loop = _LayerLoop()


def strategy_group(strategy_id: int) -> str:
    return f"strategy-{strategy_id}"


def execution_event(
    execution: Execution, logs: list[ExecutionLog] | None = None, actions: list[ExecutionAction] | None = None
) -> dict[str, Any]:
    """Everything a follower needs about one execution: the persisted rows (passed in, or read back)."""
    logs = list(execution.logs.order_by("seq")) if logs is None else logs
    actions = list(execution.actions.order_by("seq")) if actions is None else actions
    log_words, shown_actions = run_words(execution.strategy_id, logs, actions)
    return {
        "execution": {
            "id": str(execution.pk), "status": execution.status, "trigger": execution.trigger,
            "scheduled_for": execution.scheduled_for.isoformat(), "duration_ms": execution.duration_ms,
            "entries": execution.entries, "exits": execution.exits, "error": execution.error or None,
        },
        "logs": [
            {"seq": line.seq, "ts": line.ts.isoformat(), "level": line.level, "message": line.message,
             **_shown(line.message, words)}
            for line, words in zip(logs, log_words, strict=True)
        ],
        "actions": [
            {"seq": action.seq, "ts": action.ts.isoformat(), "kind": action.kind, "message": action.message,
             **_shown(action.message, words)}
            for action, words in zip(actions, shown_actions, strict=True)
        ],
    }


def run_words(strategy_id: int, logs: list[ExecutionLog],
              actions: list[ExecutionAction]) -> tuple[list[Words], list[Words]]:
    """A run's log lines and actions as a person reads them (strategies/market_words.py). The desk writes each
    action as a log line too, same time and words: that line is shown as its action is, market included."""
    names = run_market_names(strategy_id, actions, [line.message for line in logs])
    shown_actions = [action_words(action.message, action.payload, names) for action in actions]
    by_entry = {(action.ts, action.message): words for action, words in zip(actions, shown_actions, strict=True)}
    return [by_entry.get((line.ts, line.message)) or named(line.message, names) for line in logs], shown_actions


def run_market_names(strategy_id: int, actions: list[ExecutionAction], lines: list[str]) -> dict[str, str]:
    """Token id → market name for a run's rows: from its actions' payloads, and for an id only an exit names
    (an exit signal carries no name) from the strategy's positions, one query and only then."""
    names = market_names(action.payload for action in actions)
    unknown = long_ids([*lines, *(action.message for action in actions)]) - names.keys()
    if unknown:
        names.update(Position.objects.filter(strategy_id=strategy_id, market_id__in=unknown)
                     .exclude(market_name="").values_list("market_id", "market_name"))
    return names


def _shown(message: str, words: Words) -> dict[str, str]:
    """What the page shows instead of `message` (market names for token ids), only where the two differ."""
    return {} if words.text == message else {"text": words.text, "title": words.title}


def execution_broadcast(
    execution: Execution, logs: list[ExecutionLog] | None = None, actions: list[ExecutionAction] | None = None
) -> None:
    """Send the execution's persisted state to its strategy's followers; never fails the cycle."""
    _group_send(execution.strategy_id, lambda: execution_event(execution, logs, actions), f"execution {execution.pk}")


def backtest_event(backtest: Backtest) -> dict[str, Any]:
    """A backtest's persisted progress: what the Backtests tab needs to move its bar."""
    return {"backtest": {
        "id": str(backtest.pk), "version": backtest.version.number if backtest.version_id else None,
        "status": backtest.status, "progress": round(backtest.progress, 1), "eta_seconds": backtest.eta_seconds,
        "steps": backtest.steps, "error": backtest.error or None,
        "metrics": backtest.metrics if backtest.status == backtest.Status.SUCCEEDED else None,
    }}


def backtest_broadcast(backtest: Backtest) -> None:
    """Send a backtest's persisted status and progress to its strategy's followers; never fails the run."""
    _group_send(backtest.strategy_id, lambda: backtest_event(backtest), f"backtest {backtest.pk}")


async def _followed(layer: BaseChannelLayer, group: str) -> bool:
    """Whether the group may have a member. Most strategies have no follower at a given moment, and a group_send
    to an empty group still costs two Redis round trips (expire the stale members, then list them): one ZCARD says
    so. A count that includes stale members only means group_send is called and finds nobody, as before."""
    if not isinstance(layer, RedisChannelLayer):
        return True
    return bool(await layer.connection(layer.consistent_hash(group)).zcard(layer._group_key(group)))


def _group_send(strategy_id: int, event: Callable[[], dict[str, Any]], what: str) -> None:
    """`event` is built only for a group with a member: nobody follows most strategies' runs."""
    layer = get_channel_layer()
    if layer is None:
        return
    group = strategy_group(strategy_id)
    if not _on_layer_loop(lambda: _followed(layer, group), what):
        return
    message = {"type": "strategy.event", "event": event()}
    _on_layer_loop(lambda: layer.group_send(group, message), what)


def _on_layer_loop(call: Callable[[], Coroutine[Any, Any, Any]], what: str) -> Any:
    """The call's answer, or None (logged) when Redis failed twice or the call failed."""
    for attempt in (1, 2):
        try:
            return _layer_loop.run(call(), BROADCAST_TIMEOUT)
        except (RedisError, OSError) as error:
            # After a Redis restart the first send finds its pooled connection dead; the pool drops it
            # and the second send opens a fresh one, so no follower misses the first run after a restart.
            if attempt == 2:
                logger.warning("broadcast of %s failed: %r", what, error)
        except Exception:  # the run is persisted; a follower reloads history when the socket misses it
            logger.exception("broadcast of %s failed", what)
            return None
    return None
