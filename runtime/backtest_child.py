"""Inside the sandbox: a whole backtest on bars in ONE run, the step loop included (see backtest_session.py).

The worker ships the range's bars once, in the spec, as packed columns (`data.pack_bars`); the run builds the
same `BacktestEngine` the worker uses (the desk core: sizing, risk, fees, the fill model) and steps the
strategy through it, every read answered as of `ctx.now` by the engine itself, with no frame per step.
The strategy module executes once per run, unless `module_keeps_state` says it keeps state of its own
between calls (then each step re-executes it, as a live cycle runs in a new process); `ctx.state` carries
over as between live cycles.

Nothing the run says is believed: it hands back, per step, the orders it placed (and their replies), its
signals, logs and state changes (`steps` frames), then a `claim` (trades, final equity and a digest of its
results). The worker replays the orders through its own engine, outside, and computes every figure itself;
a claim that differs from the replay fails the backtest as tampered (trading.backtest.replay).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from runtime.channel import BlockingChannel
from runtime.cycle import run_cycle_in_process
from runtime.loader import StrategyDefinition, load_strategy, load_strategy_fresh, strategy_hash
from runtime.sdk import Capital, Context, Position, VenueError
from trading.backtest.data import unpack_bars, utc
from trading.backtest.engine import (
    CAPITAL_KEYS,
    MICRO_PRICE,
    ORDER_METHODS,
    BacktestCallError,
    BacktestEngine,
    BacktestSpec,
    OnCall,
    SimPosition,
    StepOutcome,
)
from trading.capital import Lot, cents, money

RECORDS_PER_FRAME = 500  # step records go back in frames well under the worker's frame cap
STEPS_PER_FRAME = 32  # and at least this often, saying how far the run got: the worker's replay follows close behind
MAX_LOG_LINES = 2000  # as the engine keeps: the first ones (a failing strategy fails early)


# --- does the module keep state of its own? ------------------------------------------------------------------

_IMMUTABLE_CALLS = frozenset({"frozenset", "tuple", "int", "float", "str", "bool", "Decimal", "timedelta",
                              "namedtuple", "NamedTuple", "TypeVar", "getLogger"})


def _immutable(node: ast.expr | None) -> bool:
    if node is None or isinstance(node, ast.Constant | ast.Lambda | ast.Name | ast.Attribute):
        return True
    if isinstance(node, ast.Tuple):
        return all(_immutable(item) for item in node.elts)
    if isinstance(node, ast.UnaryOp | ast.BinOp):
        return all(_immutable(part) for part in ast.iter_child_nodes(node) if isinstance(part, ast.expr))
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        return name in _IMMUTABLE_CALLS and all(_immutable(arg) for arg in node.args)
    return False


# Names through which code reaches module, class or function state without a plain assignment.
_STATE_DOORS = frozenset({"globals", "vars", "setattr", "delattr", "exec", "eval", "__dict__", "__class__",
                          "modules", "__globals__", "__defaults__", "__kwdefaults__"})


def module_keeps_state(files: Mapping[str, str]) -> bool:
    """True unless every file is plainly stateless between calls: no `global`/`nonlocal`, every name bound at
    module or class level bound to something immutable (a constant, a tuple, a function, an import), no mutable
    default argument, no assignment to an attribute of anything but `self`, and no door to state by name
    (`globals()`, `setattr`, `__class__`, `sys.modules`, ...). Conservative: what it cannot prove stateless is
    re-executed each step, as a live cycle would be; a module it wrongly called stateless would decide
    differently in the sealed re-run, which re-executes every step, and fail the look-ahead check."""
    for name, source in files.items():
        if not name.endswith(".py"):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return True  # the loader reports it
        bodies = [tree.body]
        for node in ast.walk(tree):  # one walk: the run does this before its first step
            if isinstance(node, ast.ClassDef):
                bodies.append(node.body)
            if isinstance(node, ast.Global | ast.Nonlocal):
                return True
            if isinstance(node, ast.Name) and node.id in _STATE_DOORS:
                return True
            if isinstance(node, ast.Attribute) and node.attr in _STATE_DOORS:
                return True
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and not all(
                    _immutable(default) for default in (*node.args.defaults, *node.args.kw_defaults)):
                return True  # def f(seen=[]): the list outlives the call
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Attribute) and not (
                        isinstance(target.value, ast.Name) and target.value.id == "self"):
                    return True  # should_enter.count = ..., Strategy.seen = ...
        for body in bodies:
            for statement in body:
                if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
                    value = statement.value
                    if isinstance(statement, ast.AugAssign) or not _immutable(value):
                        return True
                elif isinstance(statement, ast.Expr):
                    if not isinstance(statement.value, ast.Constant):
                        return True  # a call at module level: its effects would happen once, not every cycle
                elif not isinstance(statement, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef
                                    | ast.ClassDef | ast.Pass):
                    return True  # loops, ifs, with, try at module level: too clever to prove anything about
    return False


# --- the run -------------------------------------------------------------------------------------------------


def _copied(value: Any) -> Any:
    """A reply the script may edit: the engine keeps its replies (a bar's dict is built once), and an edit must
    not reach the next read, as across the channel of a live cycle or the sealed re-run."""
    if type(value) is list:  # bars: a copy of each, one level deep, as the sealed run's kept bars answer
        return [dict(item) if type(item) is dict else item for item in value]
    if type(value) is dict:
        return {key: _copied(item) if type(item) in (list, dict) else item for key, item in value.items()}
    return value


class _Transport:
    """The script's venue calls, answered by the run's own engine; orders and reads are recorded for the worker."""

    def __init__(self, max_log_chars: int) -> None:
        self.max_log_chars = max_log_chars  # as the cycle's channel transport: print() lines go through log()
        self.on_call: OnCall | None = None
        self.orders: list[list[Any]] = []
        self.reads: list[list[Any]] = []
        self.logs: list[list[str]] = []
        self.log_lines = 0

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        assert self.on_call is not None
        if method in ORDER_METHODS:
            try:
                reply = self.on_call(venue, method, kwargs)
            except BacktestCallError as error:
                self.orders.append([venue, method, dict(kwargs), {"error": str(error)}])
                raise VenueError(str(error)) from None
            self.orders.append([venue, method, dict(kwargs), reply])
            return reply
        self.reads.append([venue, method, dict(kwargs)])
        try:
            return _copied(self.on_call(venue, method, kwargs))
        except BacktestCallError as error:
            raise VenueError(str(error)) from None

    def bar_columns(self, venue: str, kwargs: dict[str, Any]) -> tuple[list[Any], ...]:
        """`get_bars(..., columns=True)`, answered by the engine as columns: no dict per bar (fresh lists)."""
        assert self.on_call is not None
        asked = {**kwargs, "columns": True}  # the engine only reads it
        self.reads.append([venue, "get_bars", asked])
        try:
            answer: tuple[list[Any], ...] = self.on_call(venue, "get_bars", asked)
        except BacktestCallError as error:
            raise VenueError(str(error)) from None
        return answer

    def log(self, level: str, message: str) -> None:
        if self.log_lines < MAX_LOG_LINES:
            self.log_lines += 1
            self.logs.append([level, message[: self.max_log_chars]])


def _state_text(state: Any) -> str:
    if type(state) is dict and not state:  # most strategies keep none: no encoder each step
        return "{}"
    return json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)


class _Shown(NamedTuple):
    """A position as the last step showed it: the engine values it came from, and the fields they gave (a tuple:
    one is made each step a position is held, and a frozen dataclass costs three times as much)."""

    lot: Lot
    value: Decimal
    mark: Decimal | None
    opened_at: float
    fields: tuple[Any, ...]  # `Position`'s, in order


class OneRunRunner:
    """The engine's StepRunner inside the run: each step a cycle of the strategy, in this process.

    It builds each step's `ctx` from the engine itself (`frames_on_demand`: the engine hands it the state alone),
    the very values a frame's texts give (`context`), with no text in between."""

    frames_on_demand = True

    def __init__(self, files: Mapping[str, str], transport: _Transport, state_bytes_limit: int,
                 send_records: Callable[[list[dict[str, Any]], int], None], engine: BacktestEngine) -> None:
        self.engine = engine
        self.files = dict(files)
        self.transport = transport
        self.state_bytes_limit = state_bytes_limit
        self.fresh = module_keeps_state(files)
        self.version_hash = strategy_hash(files)
        self.definition: StrategyDefinition | None = None
        self.index = 0
        self.state_text: str | None = None  # the state the last step left, as JSON text
        self.pending: list[dict[str, Any]] = []
        self.send_records = send_records
        self.flushed = 0  # steps done when the last frame went out
        self._capital_texts: dict[str, str] | None = None  # the engine's, and the `Capital` fields they gave
        self._capital_fields: tuple[float, ...] = ()  # `Capital`'s, in `CAPITAL_KEYS` order
        self._positions_shown: dict[str, _Shown] = {}

    def _definition(self) -> StrategyDefinition:
        if self.fresh:
            return load_strategy_fresh(self.files, self.version_hash)
        if self.definition is None:
            self.definition = load_strategy(self.files)
        return self.definition

    def context(self, state: dict[str, Any]) -> Context:
        """This step's `ctx`, fresh, equal field by field to what `build_context` makes of `engine.frame(state)`:
        a float of a Decimal is the float of its text, a datetime the one its ISO text parses to.

        Every object in it is new each step; only the figures are kept, and only while the engine values they came
        from are the same (the engine hands the same capital texts while they do not change; a position's lot,
        entry value and mark are replaced, never edited): nothing a step edits, even a frozen object through
        `object.__setattr__`, reaches a later one."""
        engine = self.engine
        texts = engine.capital_texts()
        if texts is not self._capital_texts:
            # `Capital.from_dict`'s floats, each parsed again only when its text changed (a mark moves one of four).
            last = self._capital_texts
            self._capital_fields = tuple(
                figure if last is not None and last[key] is texts[key] else float(texts[key] or 0)
                for key, figure in zip(CAPITAL_KEYS, self._capital_fields or (0.0,) * 4, strict=True))
            self._capital_texts = texts
        spec = engine.spec
        return Context(str(spec.strategy_id), engine.venue, "backtest", False, utc(engine.now), dict(spec.params),
                       dict(state), Capital(*self._capital_fields),
                       [Position(*self._position_fields(held)) for held in engine.positions.values()]
                       if engine.positions else [], self.transport)

    def _position_fields(self, held: SimPosition) -> tuple[Any, ...]:
        """`ctx.positions`' fields for `held`, worked out only from what changed since the last step."""
        lot, value, mark, opened_at = held.lot, held.entry_value, held.mark, held.opened_at
        shown = self._positions_shown.get(held.position_id)
        # The engine's Decimals and Lots are immutable and the cache keeps them alive (no id is reused): the same
        # object is the same value.
        if shown is not None and shown.lot is lot and shown.value is value and shown.opened_at == opened_at:
            if shown.mark is mark:
                return shown.fields
            fields = shown.fields
        else:
            fields = (held.position_id, self.engine.venue, held.market_id, held.market_name, held.side,
                      float(cents(lot.cost_usd)), float(lot.quantity), float(held.entry_price.quantize(MICRO_PRICE)),
                      None, 0.0, utc(opened_at))
        fields = (*fields[:8], None if mark is None else float(mark),
                  float(money(lot.quantity * mark - lot.cost_usd)) if mark is not None else 0.0, fields[10])
        self._positions_shown[held.position_id] = _Shown(lot, value, mark, opened_at, fields)
        return fields

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        transport = self.transport
        transport.on_call, transport.orders, transport.reads, transport.logs = on_call, [], [], []
        before = frame.get("state") or {}
        # As text: the script edits nested values in place, so a dict kept from the last step would change too.
        before_text = self.state_text if self.state_text is not None else _state_text(before)
        try:
            definition = self._definition()
        except BaseException as error:  # the module body raised, or the files do not load
            result: dict[str, Any] = {"entries": [], "exits": [], "state": None,
                                      "error": f"{type(error).__name__}: {error}", "traceback": None}
        else:
            result = run_cycle_in_process(definition, self.context(before), transport,
                                          state_bytes_limit=self.state_bytes_limit)
        state = result["state"] if result["state"] is not None else dict(before)
        failed = bool(result["error"])
        record: dict[str, Any] = {}
        if transport.orders:
            record["orders"] = transport.orders
        if result["entries"] or result["exits"]:
            record["entries"], record["exits"] = result["entries"], result["exits"]
        if transport.logs:
            record["logs"] = transport.logs
        self.state_text = _state_text(state)
        if self.state_text != before_text:
            record["state"] = json.loads(self.state_text)
        if failed:
            record["error"], record["traceback"] = result["error"], result["traceback"]
        if record:
            record["step"], record["reads"] = self.index, transport.reads
            self.pending.append(record)
        self.index += 1
        if len(self.pending) >= RECORDS_PER_FRAME or self.index - self.flushed >= STEPS_PER_FRAME:
            self.flush()
        return StepOutcome.of_run("failed" if failed else "succeeded", result["entries"], result["exits"], state,
                                  result["error"], result["traceback"],
                                  [(level, text) for level, text in transport.logs])

    def flush(self) -> None:
        """Send the records so far, with how many steps are done (`upto`): every step below it without a record
        was quiet."""
        self.send_records(self.pending, self.index)
        self.pending, self.flushed = [], self.index


def serve_backtest(channel: BlockingChannel, spec: dict[str, Any], state_bytes_limit: int, max_log_chars: int,
                   install_output: Callable[[Any], Callable[[], None]]) -> None:
    """Run the whole backtest, then send its records and its claim; the worker believes neither.

    `install_output(transport)` points print() at the transport's log and returns the function that flushes it."""
    if channel.receive().get("type") != "go":  # nothing before the worker has taken "ready" and is reading
        return
    backtest = spec["backtest"]
    engine = BacktestEngine(BacktestSpec.from_json(backtest["spec"]), bars=unpack_bars(backtest["bars"]))
    transport = _Transport(max_log_chars)
    flush_output = install_output(transport)
    runner = OneRunRunner(spec["files"], transport, state_bytes_limit,
                          lambda records, upto: channel.send({"type": "steps", "records": records, "upto": upto}),
                          engine)
    result = engine.run(runner, state=dict(spec["ctx"].get("state") or {}))
    runner.flush()
    flush_output()
    equity = str(result.equity[-1][1]) if result.equity else None
    channel.send({"type": "claim", "status": result.status, "steps": result.steps, "trades": len(result.trades),
                  "final_equity": equity, "digest": result.digest(), "fresh_module": runner.fresh})
