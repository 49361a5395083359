"""One cycle of a loaded strategy (docs/money.md, "A cycle": the script's steps), independent of how it is transported.

Exits first: ``should_exit`` once per open position, then ``execute_exit`` per signal; then
``should_enter`` and ``execute_entry`` per signal. Every signal is validated for the strategy's
platform before any of its kind is executed. The result is a plain JSON-able dict; the worker
re-validates it, because in the sandbox this code runs beside the user's.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import traceback
import types
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from runtime.loader import StrategyDefinition, load_strategy, strategy_forget
from runtime.sdk import (
    AWAITS_TO_ITSELF,
    BaseStrategy,
    Capital,
    Context,
    EntrySignal,
    ExitSignal,
    Position,
    SignalError,
    Transport,
)


class _ScriptAbort(Exception):
    """Ends the script's run with a message that is not a user traceback (e.g. a bad return value)."""


# What a user method's return is used as without asking `inspect.isawaitable` (≈ 1 µs, several times a step): plain
# values that cannot be awaited, and the SDK's replies whose `await` gives themselves.
_NEVER_AWAITED = frozenset({type(None), list, tuple, dict, str, int, float, bool, *AWAITS_TO_ITSELF})


class _Runner:
    """Calls user methods, sync or async, on one event loop created on first need."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        result = function(*args)
        if type(result) in _NEVER_AWAITED:  # exact types: a subclass may await to something else
            return result
        if inspect.isawaitable(result):
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            result = self.loop.run_until_complete(_await(result))
        return result

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()


async def _await(awaitable: Any) -> Any:
    return await awaitable


def build_context(definition: StrategyDefinition, ctx: Mapping[str, Any], transport: Transport) -> Context:
    platform = str(ctx.get("platform") or definition.config.get("platform") or "")
    now = ctx.get("now")
    moment = datetime.fromisoformat(now) if isinstance(now, str) else datetime.now(UTC)
    params = ctx.get("params")
    state = ctx.get("state")
    return Context(
        strategy_id=str(ctx.get("strategy_id", "")),
        platform=platform,
        mode=str(ctx.get("mode", "paper")),
        dry_run=bool(ctx.get("dry_run", False)),
        now=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
        params=dict(params) if isinstance(params, Mapping) else dict(definition.config.get("parameters") or {}),
        state=dict(state) if isinstance(state, Mapping) else {},
        capital=Capital.from_dict(ctx.get("capital")),
        positions=[Position.from_dict(p) for p in ctx.get("positions") or []],
        transport=transport,
    )


def user_traceback(error: BaseException, user_files: frozenset[str]) -> str:
    """The traceback of `error` limited to the frames of the user's own files."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename in user_files]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip()


def _entry_signals(returned: Any, platform: str) -> list[EntrySignal]:
    if returned is None:
        return []
    if not isinstance(returned, list | tuple):
        raise _ScriptAbort(f"should_enter must return a list of EntrySignal, got {type(returned).__name__}")
    signals: list[EntrySignal] = []
    for index, signal in enumerate(returned):
        if not isinstance(signal, EntrySignal):
            raise _ScriptAbort(f"should_enter returned item #{index} of type {type(signal).__name__}, not EntrySignal")
        try:
            signal.check_platform(platform)
        except SignalError as error:
            raise _ScriptAbort(f"should_enter returned an invalid signal #{index}: {error}") from None
        signals.append(signal)
    return signals


def _positional_count(method: Callable[..., Any]) -> int:
    """How many positional arguments a bound method takes (any number for *args)."""
    if type(method) is types.MethodType and type(method.__func__) is types.FunctionType:
        # The same for every instance: read once per function while it lives (inspect.signature costs ≈ 30 µs, and
        # a backtest's run asks at every exit); weakly, so a module run anew each step is not kept alive by it.
        function = method.__func__
        count = _bound_counts.get(function)
        if count is None:
            count = _bound_counts[function] = _signature_positional_count(method)
        return count
    return _signature_positional_count(method)


_bound_counts: weakref.WeakKeyDictionary[Callable[..., Any], int] = weakref.WeakKeyDictionary()


def _signature_positional_count(method: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _exit_signal(returned: Any, position: Position) -> ExitSignal | None:
    if returned is None:
        return None
    if not isinstance(returned, ExitSignal):
        raise _ScriptAbort(f"should_exit must return an ExitSignal or None, got {type(returned).__name__}")
    if returned.position_id != position.position_id:
        raise _ScriptAbort(
            f"should_exit for position {position.position_id!r} returned ExitSignal.position_id "
            f"{returned.position_id!r}: it must be the position it was asked about"
        )
    return returned


def state_error(state: Any, state_bytes_limit: int) -> str | None:
    """Why `state` cannot be kept, or None when it can."""
    if not isinstance(state, dict):
        return f"ctx.state must be a dict, got {type(state).__name__}"
    if not state:
        return None
    try:
        encoded = json.dumps(state, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError, RecursionError) as error:
        return f"ctx.state must be JSON (dicts, lists, strings, numbers, booleans, null): {error}"
    if len(encoded) > state_bytes_limit:
        return f"ctx.state is {len(encoded)} bytes of JSON, over the {state_bytes_limit // 1024} KiB limit"
    return None


def run_cycle_in_process(
    definition: StrategyDefinition,
    ctx_data: Mapping[str, Any] | Context,
    transport: Transport,
    *,
    state_bytes_limit: int,
) -> dict[str, Any]:
    """Run one cycle and return ``{"entries", "exits", "state", "error", "traceback"}``.

    `ctx_data` is the frame's ctx, or a `Context` already built for this cycle alone (a backtest's run builds it
    from its engine: no text in between). `state` is None when the strategy left a state that cannot be kept; the
    worker then keeps the previous one.
    """
    runner = _Runner()
    entries: list[dict[str, Any]] = []
    exits: list[dict[str, Any]] = []
    error: str | None = None
    trace: str | None = None
    ctx: Context | None = None
    strategy: BaseStrategy | None = None
    original_state: dict[str, Any] = {}
    try:
        ctx = ctx_data if isinstance(ctx_data, Context) else build_context(definition, ctx_data, transport)
        original_state = ctx.state
        strategy = definition.instantiate(params=ctx.params, state=ctx.state)
        exit_signals: list[tuple[Position, ExitSignal]] = []
        for position in ctx.positions:
            asked = _exit_signal(runner.call(strategy.should_exit, ctx, position), position)
            if asked is not None:
                exit_signals.append((position, asked))
        exits = [exit_signal.as_dict() for _, exit_signal in exit_signals]
        # `execute_exit(self, ctx, position, signal)`, as older docs write it, gets the position too.
        # Only asked when there is an exit to execute: inspect.signature costs more than most steps.
        with_position = bool(exit_signals) and _positional_count(strategy.execute_exit) >= 3
        for index, (position, exit_signal) in enumerate(exit_signals):
            ctx.signal_index = index
            if with_position:
                runner.call(strategy.execute_exit, ctx, position, exit_signal)
            else:
                runner.call(strategy.execute_exit, ctx, exit_signal)
        ctx.signal_index = None
        entry_signals = _entry_signals(runner.call(strategy.should_enter, ctx), ctx.platform)
        entries = [signal.as_dict() for signal in entry_signals]
        for index, entry_signal in enumerate(entry_signals):
            ctx.signal_index, ctx.entry_signal = index, entry_signal
            runner.call(strategy.execute_entry, ctx, entry_signal)
        ctx.signal_index, ctx.entry_signal = None, None
    except _ScriptAbort as abort:
        error = str(abort)
    except BaseException as raised:  # SystemExit and KeyboardInterrupt from user code end the cycle too
        error = "".join(traceback.format_exception_only(type(raised), raised)).strip()
        trace = user_traceback(raised, definition.source_files)
    finally:
        runner.close()
    state: Any = None
    if ctx is not None:
        # ctx.state and self.state start as one dict; whichever the strategy replaced wins.
        state = ctx.state
        if state is original_state and strategy is not None and strategy.state is not original_state:
            state = strategy.state
        problem = state_error(state, state_bytes_limit)
        if problem is not None:
            state = None
            error = f"{error}; {problem}" if error else problem
    return {"entries": entries, "exits": exits, "state": state, "error": error, "traceback": trace}


REHEARSAL = {  # our own do-nothing strategy, never a user's
    "entry.py": "def should_enter(ctx):\n    ctx.log('rehearsal')\n    return []\n",
    "exit.py": "def should_exit(ctx, position):\n    return None\n",
    "config.json": "{}",
}


class _Silent:
    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> None:
        return None

    def log(self, level: str, message: str) -> None:
        return None


def cycle_rehearse() -> None:
    """One cycle of REHEARSAL, in a warm session before it forks its children: what a cycle sets up on first use
    (the interpreter's method caches, lazy imports and encoders) is then set up once, in the session, instead of
    being written into copy-on-write pages by every child. Nothing of it stays in the loader's caches."""
    try:
        definition = load_strategy(REHEARSAL)
        result = run_cycle_in_process(definition, {"state": {"seen": [1, 2]}}, _Silent(), state_bytes_limit=1 << 16)
        json.dumps(result)
    finally:
        strategy_forget(REHEARSAL)
