"""Trust, outside the run: replay a whole-run backtest's orders through the worker's own engine, and prove
its decisions free of look-ahead.

A backtest on bars runs its whole loop inside one sandboxed run that holds the range in memory
(runtime/backtest_child.py). Nothing it says is believed:
- the worker steps its own `BacktestEngine` (the same desk: sizing, risk, fees, fills) through the range and,
  at each step, places the orders the run recorded for it; every reply must be the one the run got, and the
  run's claim (trades, equity, a digest of its results) must be what this replay gives, or the backtest fails
  as tampered. Fills, positions, P&L, the equity curve and the metrics are the replay's.
- a script that read the run's memory could have seen a later bar. So every step that signalled (entries,
  exits or orders) and a seeded sample of the quiet ones (`sample`, 64 by default) run again, sealed: in a
  separate sandboxed run that holds only the bars closed by that step (`sealed()`, runtime.step_session), with
  `ctx.state` as it was. Any difference (signals, orders, the state it leaves) fails the backtest, naming the
  step and the reads the strategy made there. The result says what was checked. A sealed run that
  `answers_orders` gets the desk as of the step (`BacktestEngine.desk_json`) and answers its orders itself; they
  are placed here after the step, and a reply that differs from this desk's fails the backtest as tampered.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trading.backtest.data import iso
from trading.backtest.engine import ORDER_METHODS, BacktestCallError, BacktestEngine, OnCall, StepOutcome, StepRunner

DEFAULT_SAMPLE = 64


class RunTampered(Exception):
    """The run's record or claim is not what the worker's own replay gives."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def _canonical(value: Any) -> str:
    return _CANONICAL.encode(value)


def _same_json(a: Any, b: Any) -> bool:
    """Whether `a` and `b` are plainly the same JSON: trees of exactly dict (text keys), list, str, int, bool, None
    and float (the same repr), equal. False means "not shown the same", not "different": `_identical` decides."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        return a.keys() == b.keys() and all(type(key) is str and _same_json(value, b[key]) for key, value in a.items())
    if kind is list:
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if kind is float:
        return repr(a) == repr(b)
    return (kind is str or kind is int or kind is bool or a is None) and a == b


def _identical(a: Any, b: Any) -> bool:
    """Whether `a` and `b` give the same canonical JSON. Most pairs compared are plainly the same (a quiet step's
    empty outcome, a reply and its record): shown without encoding either; anything else is encoded and compared."""
    try:
        if _same_json(a, b):
            return True
    except RecursionError:  # a deeply nested state: the encoder judges it
        pass
    return _canonical(a) == _canonical(b)


def _reads_text(reads: Any) -> str:
    if not isinstance(reads, list) or not reads:
        return "no venue read"
    shown = []
    for read in reads[:5]:
        if isinstance(read, list) and len(read) == 3 and isinstance(read[2], dict):
            args = ", ".join(f"{k}={v!r}" for k, v in read[2].items())
            shown.append(f"{read[0]}.{read[1]}({args})")
    more = f" and {len(reads) - 5} more" if len(reads) > 5 else ""
    return "; ".join(shown) + more


@dataclass
class _Record:
    orders: list[list[Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    exits: list[dict[str, Any]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    state: dict[str, Any] | None = None  # None: unchanged
    error: str | None = None
    traceback: str | None = None
    reads: list[Any] = field(default_factory=list)

    @property
    def signalled(self) -> bool:
        return bool(self.orders or self.entries or self.exits)


_QUIET = _Record()  # the record of every step the run did nothing at: shared, so nothing may edit a record


def _record(data: dict[str, Any]) -> tuple[int, _Record]:
    """A step record as the run sent it, its shape checked (its content is judged by the replay)."""
    step = data.get("step")
    orders, entries, exits = data.get("orders", []), data.get("entries", []), data.get("exits", [])
    logs, state, error = data.get("logs", []), data.get("state"), data.get("error")
    ok = (isinstance(step, int) and step >= 0 and isinstance(orders, list)
          and all(isinstance(o, list) and len(o) == 4 and isinstance(o[0], str) and o[1] in ORDER_METHODS
                  and isinstance(o[2], dict) for o in orders)
          and isinstance(entries, list) and isinstance(exits, list)
          and all(isinstance(s, dict) for s in (*entries, *exits))
          and isinstance(logs, list) and all(isinstance(line, list) and len(line) == 2
                                             and all(isinstance(p, str) for p in line) for line in logs)
          and (state is None or isinstance(state, dict)) and (error is None or isinstance(error, str)))
    if not ok:
        raise RunTampered(f"the run sent a malformed record for step {step!r}")
    trace = data.get("traceback")
    assert isinstance(step, int)
    return step, _Record(orders, entries, exits, [(str(a), str(b)) for a, b in logs], state, error,
                              trace if isinstance(trace, str) else None, data.get("reads") or [])


class RecordFeed:
    """The run's step records as they arrive (`add`, from the thread that pumps the run), read in step order by
    the replay (`record`, which waits for the run to get that far): the replay follows close behind the run."""

    def __init__(self, total_steps: int, *, calls_per_step: int = 200) -> None:
        self.total_steps = total_steps
        self.calls_per_step = calls_per_step
        self.records: dict[int, _Record] = {}
        self.upto = 0  # steps the run has done; those below it without a record were quiet
        self.finished = False
        self.ended: str | None = None  # why the run ended, when it ended without a claim
        self.problem: str | None = None
        self._changed = threading.Condition()

    def add(self, records: list[dict[str, Any]], upto: int) -> None:
        with self._changed:
            try:
                if upto > self.total_steps:
                    raise RunTampered(f"the run says it did {upto} steps of {self.total_steps}")
                for data in records:
                    step, record = _record(data)
                    if not self.upto <= step < upto or step in self.records:
                        raise RunTampered(f"the run sent a record for step {step} out of turn (done: {self.upto} "
                                          f"before, {upto} now)")
                    if len(record.orders) > self.calls_per_step:
                        raise RunTampered(f"the run claims {len(record.orders)} orders at step {step}, over the "
                                          f"{self.calls_per_step} calls a step may make")
                    self.records[step] = record
                self.upto = upto
            except RunTampered as tampered:
                self.problem = self.problem or str(tampered)
            self._changed.notify_all()

    def finish(self, ended: str | None) -> None:
        with self._changed:
            self.finished, self.ended = True, ended
            self._changed.notify_all()

    def record(self, index: int) -> _Record | None:
        """Step `index`'s record (an empty one for a quiet step), or None when the run ended before it."""
        if index < self.upto and self.problem is None:  # the run is past it: its records came in before `upto` did
            return self.records.get(index) or _QUIET
        with self._changed:
            while self.upto <= index and not self.finished and self.problem is None:
                self._changed.wait(0.5)
            if self.problem is not None:
                raise RunTampered(self.problem)
            if self.upto <= index:
                return None
            return self.records.get(index) or _QUIET


@dataclass
class Coverage:
    """What the look-ahead check re-ran, sealed, and what it found."""

    signal_steps: int = 0
    quiet_steps: int = 0
    sample: int = DEFAULT_SAMPLE
    seed: int = 0
    difference: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        verdict = "identical" if self.difference is None else f"different at step {self.difference['step']}"
        return {"signals": self.signal_steps, "quiet": self.quiet_steps,
                "checked": self.signal_steps + self.quiet_steps, "sample": self.sample, "seed": self.seed,
                "biased": self.difference is not None, "flagged": [] if self.difference is None else [self.difference],
                "summary": f"checked {self.signal_steps} signal steps and {self.quiet_steps} quiet steps: {verdict}"}


class _Checks:
    """Which steps the look-ahead check re-runs: every one that signalled, and a sample of the quiet ones drawn
    before the run is known. Each drawn step that turns out to have signalled (it is checked anyway) hands its
    place to the next quiet step, so `sample` quiet steps are checked unless no quiet step follows."""

    def __init__(self, total: int, sample: int, seed: int) -> None:
        self.picked = set(random.Random(seed).sample(range(total), min(sample, total)))  # noqa: S311 - reproducible
        self.owed = 0

    def checked(self, index: int, signalled: bool) -> bool:
        if signalled:
            if index in self.picked:
                self.owed += 1
            return True
        if index in self.picked:
            return True
        if self.owed:
            self.owed -= 1
            return True
        return False


class ReplayRunner:
    """The worker engine's StepRunner for a whole-run backtest: the run's orders, replayed; sealed re-runs checked.

    `sealed()` opens the sealed run (a StepRunner that takes the bars closed so far with each frame and holds
    nothing later); it is opened on the first checked step and closed by `close()`.
    """

    frames_on_demand = True  # a quiet step needs only the state: the frame is built for the sealed steps alone

    def __init__(self, engine: BacktestEngine, feed: RecordFeed, *, sealed: Callable[[], StepRunner],
                 sample: int = DEFAULT_SAMPLE, seed: int = 0) -> None:
        self.engine = engine
        self.feed = feed
        self.checks = _Checks(feed.total_steps, sample, seed)
        self.coverage = Coverage(sample=sample, seed=seed)
        self.sealed_factory = sealed
        self.sealed: StepRunner | None = None
        self.sealed_s = 0.0  # time spent opening and stepping the sealed run
        self.index = 0

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        index = self.index
        self.index += 1
        before = dict(frame.get("state") or {})
        record = self.feed.record(index)
        if record is None:
            return StepOutcome("failed", [], [], before, f"the backtest's sandbox run ended before this step: "
                                                         f"{self.feed.ended}")
        if self.checks.checked(index, record.signalled):
            difference = self._sealed_step(index, on_call, record, before)
            if difference is not None:
                self.coverage.difference = difference
                return StepOutcome("failed", [], [], before, f"look-ahead check: {difference['message']}",
                                   None, record.logs)  # what it printed there is kept: it may say why
        else:
            for venue, method, kwargs, claimed in record.orders:
                try:
                    reply = on_call(venue, method, dict(kwargs))
                except BacktestCallError as error:
                    reply = {"error": str(error)}
                if not _identical(reply, claimed):
                    raise RunTampered(f"step {index + 1} ({iso(self.engine.now)}): the run got {claimed!r} for its "
                                      f"{method}, the desk outside the sandbox gives {reply!r}")
        state = record.state if record.state is not None else before
        return StepOutcome.of_run("failed" if record.error else "succeeded", record.entries, record.exits, state,
                                  record.error, record.traceback, record.logs)

    def _sealed_step(self, index: int, on_call: OnCall, record: _Record,
                     before: dict[str, Any]) -> dict[str, Any] | None:
        """Run step `index` again, sealed; its orders go to the engine for real. The difference, or None."""
        if self.sealed is None:
            started = time.perf_counter()
            self.sealed = self.sealed_factory()
            self.sealed_s += time.perf_counter() - started
        orders: list[list[Any]] = []
        sealed_call = _recording(on_call, orders, [])
        started = time.perf_counter()
        sealed_frame = {**self.engine.frame(before), "bars": self.engine.closed_bars(self.engine.now)}
        if getattr(self.sealed, "answers_orders", False):  # it answers its orders from the desk as of this step
            sealed_frame["desk"] = self.engine.desk_json()
        outcome = self.sealed.step(sealed_frame, sealed_call)
        for venue, method, kwargs, answered in outcome.orders:  # now on this desk, in their order
            try:
                reply = on_call(venue, method, dict(kwargs))
            except BacktestCallError as error:
                reply = {"error": str(error)}
            except Exception as error:  # as the worker's refusal of a forwarded order says it
                reply = {"error": f"{venue}.{method} failed ({type(error).__name__})"}
            if not _identical(reply, answered):
                raise RunTampered(f"step {index + 1} ({iso(self.engine.now)}): the sealed re-run answered its "
                                  f"{method} with {answered!r}; the desk outside the sandbox gives {reply!r}")
            orders.append([venue, method, kwargs, reply])
        self.sealed_s += time.perf_counter() - started
        if record.signalled:
            self.coverage.signal_steps += 1
        else:
            self.coverage.quiet_steps += 1
        ran = {"entries": record.entries, "exits": record.exits, "orders": [o[:3] for o in record.orders],
               "state": record.state if record.state is not None else before, "failed": bool(record.error)}
        again = {"entries": outcome.entries, "exits": outcome.exits, "orders": [o[:3] for o in orders],
                 "state": outcome.state, "failed": outcome.status != "succeeded"}
        if _identical(ran, again):
            claimed = [o[3] for o in record.orders]
            if not _identical(claimed, [o[3] for o in orders]):
                raise RunTampered(f"step {index + 1} ({iso(self.engine.now)}): the run's order replies "
                                  f"{claimed!r} are not the desk's {[o[3] for o in orders]!r}")
            return None
        changed = [key for key in ran if not _identical(ran[key], again[key])]
        reads = _reads_text(record.reads)
        return {"step": index + 1, "time": iso(self.engine.now), "changed": changed, "reads": reads,
                "ran": ran, "sealed": again,
                "message": (f"step {index + 1} ({iso(self.engine.now)}) decides differently when the data is cut at "
                            f"that step ({', '.join(changed)} changed); its reads there: {reads}. It used data "
                            f"it would not have had live (or something other than what it read: randomness, the "
                            f"clock)")}

    def close(self) -> None:
        closer = getattr(self.sealed, "close", None)
        if closer is not None:
            closer()


class BookCheck:
    """The look-ahead check on books, as a StepRunner around the run's own (`main`, a per-step sandboxed run whose
    reads and orders this worker's engine answers).

    The run never holds a later book, so a difference here means a strategy that is not a function of what it read
    (randomness, the clock) or an answer of the engine that reached past its step. Every step that signalled
    (entries, exits or orders) and a seeded sample of the quiet ones run again in a second sandboxed run (`sealed()`,
    opened on the first checked step), with `ctx.state` as the step had it; that run's reads and orders are answered
    by an engine on the data cut at the step (`BacktestEngine.at_desk`, the desk as it stood before the step), never
    by the one the backtest goes on with. Any difference (signals, orders and their replies, the state it leaves)
    fails the backtest at that step, naming it and the reads the strategy made there, as on bars."""

    def __init__(self, main: StepRunner, engine: BacktestEngine, *, sealed: Callable[[], StepRunner], total: int,
                 sample: int = DEFAULT_SAMPLE, seed: int = 0) -> None:
        self.main = main
        self.engine = engine
        self.checks = _Checks(total, sample, seed)
        self.coverage = Coverage(sample=sample, seed=seed)
        self.sealed_factory = sealed
        self.sealed: StepRunner | None = None
        self.sealed_s = 0.0
        self.index = 0

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        index = self.index
        self.index += 1
        desk = self.engine.desk_json()  # before the step's orders change it
        orders: list[list[Any]] = []
        reads: list[list[Any]] = []
        outcome = self.main.step(frame, _recording(on_call, orders, reads))
        signalled = bool(orders or outcome.entries or outcome.exits)
        if outcome.status != "succeeded" or not self.checks.checked(index, signalled):
            return outcome
        before = dict(frame.get("state") or {})
        difference = self._sealed_step(index, frame, desk, orders, reads, outcome)
        if difference is None:
            return outcome
        self.coverage.difference = difference
        return StepOutcome("failed", [], [], before, f"look-ahead check: {difference['message']}", None, outcome.logs)

    def _sealed_step(self, index: int, frame: dict[str, Any], desk: dict[str, Any], orders: list[list[Any]],
                     reads: list[list[Any]], outcome: StepOutcome) -> dict[str, Any] | None:
        started = time.perf_counter()
        if self.sealed is None:
            self.sealed = self.sealed_factory()
        engine = self.engine
        cut = BacktestEngine.at_desk(engine.spec, None, desk, books=engine.books, cutoff=engine.now)
        again_orders: list[list[Any]] = []
        again = self.sealed.step(dict(frame), _recording(cut.call, again_orders, []))
        self.sealed_s += time.perf_counter() - started
        if orders or outcome.entries or outcome.exits:
            self.coverage.signal_steps += 1
        else:
            self.coverage.quiet_steps += 1
        ran = {"entries": outcome.entries, "exits": outcome.exits, "orders": orders, "state": outcome.state,
               "failed": False}
        sealed = {"entries": again.entries, "exits": again.exits, "orders": again_orders, "state": again.state,
                  "failed": again.status != "succeeded"}
        if _identical(ran, sealed):
            return None
        changed = [key for key in ran if not _identical(ran[key], sealed[key])]
        shown = _reads_text(reads)
        return {"step": index + 1, "time": iso(engine.now), "changed": changed, "reads": shown, "ran": ran,
                "sealed": {**sealed, "error": again.error},
                "message": (f"step {index + 1} ({iso(engine.now)}) decides differently when the data is cut at "
                            f"that step ({', '.join(changed)} changed); its reads there: {shown}. It is not a "
                            f"function of what it read (randomness, the clock), or it read past its step")}

    def close(self) -> None:
        for runner in (self.main, self.sealed):
            closer = getattr(runner, "close", None)
            if closer is not None:
                closer()


def _recording(on_call: OnCall, orders: list[list[Any]], reads: list[list[Any]]) -> OnCall:
    """`on_call`, with each order and its reply (or refusal) kept in `orders` and each read in `reads`."""

    def call(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        if method not in ORDER_METHODS:
            reads.append([venue, method, dict(kwargs)])
            return on_call(venue, method, kwargs)
        try:
            reply = on_call(venue, method, kwargs)
        except BacktestCallError as error:
            orders.append([venue, method, dict(kwargs), {"error": str(error)}])
            raise
        orders.append([venue, method, dict(kwargs), reply])
        return reply

    return call
