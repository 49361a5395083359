"""The strategy SDK: everything a strategy script may rely on (docs/strategies.md).

A script imports ``from strategies.sdk import BaseStrategy, EntrySignal, ExitSignal, Position``
(``servers.strategies`` re-exports the same names). This module imports nothing from Django, nor
anything that does: it is loaded inside the sandbox, where Django is not even visible.

- ``EntrySignal`` / ``ExitSignal`` validate themselves on construction; a wrong type or value
  raises ``SignalError`` naming the field and the value. Rules that depend on the venue (``yes``/``no``
  on prediction markets, ``buy``/``sell`` on Alpaca, a limit price below 1 on prediction markets)
  are checked by ``EntrySignal.check_platform`` when the runtime collects the signals.
- ``Context`` is the ``ctx`` a script receives; its venue clients forward every call through a
  ``Transport`` (in the sandbox: the framed channel to the worker).
- ``BaseStrategy`` is the one interface both file layouts load into.

Numbers a script sees are ``float`` so its arithmetic never mixes ``Decimal`` and ``float``; the
worker converts to ``Decimal`` at the money layer.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol, TypeAlias

from trading.venues.platforms import PLATFORMS, PREDICTION_MARKETS, TRAITS

__all__ = [
    "LOG_LEVELS",
    "MODES",
    "PLATFORMS",
    "VENUE_METHODS",
    "BarColumns",
    "BaseStrategy",
    "Capital",
    "ConfigView",
    "Context",
    "EntrySignal",
    "ExitSignal",
    "Position",
    "SignalError",
    "Transport",
    "VenueError",
    "VenueProxy",
]

SIDES_BY_PLATFORM: Mapping[str, tuple[str, ...]] = {venue: venue_traits.sides for venue, venue_traits in TRAITS.items()}
ALL_SIDES = frozenset({"yes", "no", "buy", "sell"})
MODES = ("backtest", "paper", "live")
LOG_LEVELS = ("debug", "info", "warning", "error")

# Method name -> names its positional arguments map to. Named after the official SDKs (docs/venues.md);
# the worker uses the same table as its allow-list, so a call the table lacks never leaves the sandbox.
VENUE_METHODS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "polymarket": {
        "get_markets": ("next_cursor",),
        "get_market": ("condition_id",),
        "get_order_book": ("token_id",),
        "get_midpoint": ("token_id",),
        "get_price": ("token_id", "side"),
        "get_spread": ("token_id",),
        "get_last_trade_price": ("token_id",),
        "get_tick_size": ("token_id",),
        "get_prices_history": ("market", "interval", "start_ts", "end_ts", "fidelity"),
        "get_trade_history": ("maker_address", "market", "limit"),
        "create_order": (),
        "cancel_order": ("order_id",),
    },
    "kalshi": {
        "get_markets": ("event_ticker", "series_ticker", "status", "limit", "cursor"),
        "get_market": ("ticker",),
        "get_orderbook": ("ticker", "depth"),
        "get_candlesticks": ("series_ticker", "ticker", "start_ts", "end_ts", "period_interval"),
        "get_trades": ("ticker", "limit"),
        "create_order": (),
        "cancel_order": ("order_id",),
    },
    "alpaca": {
        "get_latest_quote": ("symbol",),
        "get_latest_trade": ("symbol",),
        "get_bars": ("symbol", "timeframe", "start", "end", "limit"),
        "create_order": (),
        "cancel_order": ("order_id",),
    },
}

JSONValue: TypeAlias = Any  # what json.loads can return; kept loose so scripts stay unannotated


class SignalError(ValueError):
    """A signal with a wrong type or value; the message names the field and the value."""


class VenueError(Exception):
    """A venue call the worker refused or could not answer; the message is safe to show."""


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _text(owner: str, name: str, value: object, *, required: bool) -> str:
    if not isinstance(value, str):
        raise SignalError(f"{owner}.{name} must be a string, got {_describe(value)}")
    if required and not value.strip():
        raise SignalError(f"{owner}.{name} must be a non-empty string, got {value!r}")
    return value


def _number(owner: str, name: str, value: object) -> float:
    # bool is an int subclass: True as a price is always a bug
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignalError(f"{owner}.{name} must be a number, got {_describe(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise SignalError(f"{owner}.{name} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class EntrySignal:
    """Open a position on `market_id`. Sizing and risk checks happen in the worker."""

    market_id: str
    side: str
    reason: str
    confidence: float = 0.5
    market_name: str = ""
    size_usd: float | None = None
    limit_price: float | None = None

    def __post_init__(self) -> None:
        owner = "EntrySignal"
        _text(owner, "market_id", self.market_id, required=True)
        side = _text(owner, "side", self.side, required=True)
        if side not in ALL_SIDES:
            raise SignalError(f"{owner}.side must be one of yes, no, buy, sell, got {side!r}")
        _text(owner, "reason", self.reason, required=True)
        _text(owner, "market_name", self.market_name, required=False)
        confidence = _number(owner, "confidence", self.confidence)
        if not 0.0 <= confidence <= 1.0:
            raise SignalError(f"{owner}.confidence must be in [0, 1], got {self.confidence!r}")
        object.__setattr__(self, "confidence", confidence)
        if self.size_usd is not None:
            size = _number(owner, "size_usd", self.size_usd)
            if size <= 0:
                raise SignalError(f"{owner}.size_usd must be > 0 when given, got {self.size_usd!r}")
            object.__setattr__(self, "size_usd", size)
        if self.limit_price is not None:
            price = _number(owner, "limit_price", self.limit_price)
            if price <= 0:
                raise SignalError(f"{owner}.limit_price must be > 0 when given, got {self.limit_price!r}")
            object.__setattr__(self, "limit_price", price)

    def check_platform(self, platform: str) -> None:
        """Raise SignalError if this signal cannot be traded on `platform`."""
        sides = SIDES_BY_PLATFORM.get(platform)
        if sides is None:
            raise SignalError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
        if self.side not in sides:
            raise SignalError(f"EntrySignal.side must be {' or '.join(sides)} on {platform}, got {self.side!r}")
        if platform in PREDICTION_MARKETS and self.limit_price is not None and not self.limit_price < 1.0:
            raise SignalError(f"EntrySignal.limit_price must be in (0, 1) on {platform}, got {self.limit_price!r}")

    def as_dict(self) -> dict[str, Any]:
        return _signal_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EntrySignal:
        """Rebuild (and so re-validate) a signal that crossed the sandbox boundary."""
        return cls(**_known_fields(cls, "EntrySignal", data))

    def order_request(self) -> dict[str, Any]:
        return {"intent": "entry", **self.as_dict()}


@dataclass(frozen=True)
class ExitSignal:
    """Close `fraction` of an open position."""

    position_id: str
    reason: str
    fraction: float = 1.0

    def __post_init__(self) -> None:
        owner = "ExitSignal"
        _text(owner, "position_id", self.position_id, required=True)
        _text(owner, "reason", self.reason, required=True)
        fraction = _number(owner, "fraction", self.fraction)
        if not 0.0 < fraction <= 1.0:
            raise SignalError(f"{owner}.fraction must be in (0, 1], got {self.fraction!r}")
        object.__setattr__(self, "fraction", fraction)

    def as_dict(self) -> dict[str, Any]:
        return _signal_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExitSignal:
        return cls(**_known_fields(cls, "ExitSignal", data))

    def order_request(self) -> dict[str, Any]:
        return {"intent": "exit", **self.as_dict()}


def _signal_dict(signal: EntrySignal | ExitSignal) -> dict[str, Any]:
    """`dataclasses.asdict(signal)` without its deep copy (≈ 10 µs; a backtest asks at every signal), where a copy
    is the value itself: a plain string, float or None (a subclass of either, or a script's subclass of the signal,
    still goes through `asdict`)."""
    names = _FIELD_NAMES.get(type(signal))
    if names is not None:
        shallow = {name: getattr(signal, name) for name in names}
        if all(type(value) in _PLAIN for value in shallow.values()):
            return shallow
    return asdict(signal)


def _known_fields(cls: type[EntrySignal] | type[ExitSignal], owner: str, data: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise SignalError(f"{owner} must be an object, got {_describe(data)}")
    names = {item.name for item in fields(cls)}
    unknown = sorted(str(key) for key in data if key not in names)
    if unknown:
        raise SignalError(f"{owner} has unknown fields: {', '.join(unknown)}")
    return dict(data)


_PLAIN = frozenset({str, float, type(None)})
_FIELD_NAMES: Mapping[type, tuple[str, ...]] = {cls: tuple(item.name for item in fields(cls))
                                                 for cls in (EntrySignal, ExitSignal)}


def _parse_time(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Position:
    """An open position, marked to market. `size` is the USD cost basis."""

    position_id: str
    platform: str
    market_id: str
    market_name: str
    side: str
    size: float
    quantity: float
    entry_price: float
    current_price: float | None
    unrealized_pnl: float
    opened_at: datetime | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Position:
        return cls(
            position_id=str(data["position_id"]),
            platform=str(data.get("platform", "")),
            market_id=str(data["market_id"]),
            market_name=str(data.get("market_name") or ""),
            side=str(data.get("side", "")),
            size=float(data.get("size") or 0),
            quantity=float(data.get("quantity") or 0),
            entry_price=float(data.get("entry_price") or 0),
            current_price=_float_or_none(data.get("current_price")),
            unrealized_pnl=float(data.get("unrealized_pnl") or 0),
            opened_at=_parse_time(data.get("opened_at")),
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["opened_at"] = self.opened_at.isoformat() if self.opened_at else None
        return data


@dataclass(frozen=True)
class Capital:
    """The strategy's money today: total, deployed, available and today's realized + unrealized P&L."""

    total: float = 0.0
    deployed: float = 0.0
    available: float = 0.0
    pnl_today: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Capital:
        data = data or {}
        get = data.get  # built every step of a backtest
        return cls(float(get("total") or 0), float(get("deployed") or 0), float(get("available") or 0),
                   float(get("pnl_today") or 0))


class ConfigView(dict[str, Any]):
    """config.json as a dict whose keys also read as attributes, as older docs write it:
    `self.config.risk_limits["max_order_usd"]` is `self.config["risk_limits"]["max_order_usd"]`."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"config.json has no key {name!r}; it has: {', '.join(sorted(self))}") from None
        return ConfigView(value) if isinstance(value, dict) else value


class Transport(Protocol):
    """How a Context reaches the worker: venue calls and log lines."""

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> JSONValue: ...

    def log(self, level: str, message: str) -> None: ...


class VenueResult(dict[str, Any]):
    """A venue reply that can also be awaited, so sync and async scripts read it the same way."""

    def __await__(self) -> Generator[Any, None, VenueResult]:
        return _resolved(self).__await__()


class VenueResultList(list[Any]):
    """A list reply that can also be awaited."""

    def __await__(self) -> Generator[Any, None, VenueResultList]:
        return _resolved(self).__await__()


async def _resolved(value: Any) -> Any:
    return value


def _awaitable(value: JSONValue) -> JSONValue:
    if isinstance(value, dict):
        return VenueResult(value)
    if isinstance(value, list):
        return VenueResultList(value)
    return value


BAR_COLUMNS = ("time", "open", "high", "low", "close", "volume")


class BarColumns:
    """`get_bars(..., columns=True)`: the very bars `get_bars` returns (same bounds, same errors, none after
    `ctx.now`), as columns instead of a dict per bar: `time` (the bars' `t`, ISO 8601 text), `open`, `high`,
    `low`, `close`, `volume` (lists of floats, oldest first). Each read is a fresh copy: editing it changes
    nothing else. `numpy.asarray(bars.close)` gives an array."""

    __slots__ = BAR_COLUMNS
    time: list[str]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]

    def __init__(self, time: list[str], open: list[float], high: list[float], low: list[float],
                 close: list[float], volume: list[float]) -> None:
        self.time, self.open, self.high, self.low, self.close, self.volume = time, open, high, low, close, volume

    @classmethod
    def from_rows(cls, rows: Any) -> BarColumns:
        """From `get_bars`' own reply, a list of `{"t", "o", "h", "l", "c", "v"}` (paper and live)."""
        if not isinstance(rows, list):
            raise VenueError(f"get_bars answered {type(rows).__name__}, not a list of bars")
        return cls([str(bar["t"]) for bar in rows], *([float(bar[key]) for bar in rows] for key in "ohlcv"))

    def __len__(self) -> int:
        return len(self.close)

    def __await__(self) -> Generator[Any, None, BarColumns]:
        return _resolved(self).__await__()

    def __repr__(self) -> str:
        span = f" {self.time[0]} .. {self.time[-1]}" if self.time else ""
        return f"<BarColumns of {len(self)} bars{span}>"


class _VenueMethod:
    def __init__(self, client: VenueProxy, name: str, params: tuple[str, ...]) -> None:
        self._client, self._name, self._params = client, name, params

    def __call__(self, *args: Any, **kwargs: Any) -> JSONValue:
        columns = self._name == "get_bars" and bool(kwargs.pop("columns", False))
        if len(args) > len(self._params):
            raise TypeError(f"{self._where()} takes {len(self._params)} positional arguments, got {len(args)}")
        for name, value in zip(self._params, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{self._where()} got multiple values for argument {name!r}")
            kwargs[name] = value
        if self._name == "create_order" and "intent" not in kwargs:
            kwargs = self._client.order_from_side(kwargs)
        if columns:
            return self._client.bar_columns(kwargs)
        return _awaitable(self._client.transport.call(self._client.venue, self._name, kwargs))

    def _where(self) -> str:
        return f"{self._client.venue}.{self._name}()"


class VenueProxy:
    """`ctx.polymarket` and friends: every method call becomes a request to the worker.

    `await ctx.polymarket` returns the client itself, and every reply can be awaited too, so
    `poly = await ctx.polymarket; book = await poly.get_order_book(token)` and
    `ctx.polymarket.get_order_book(token)` both work.
    """

    def __init__(self, venue: str, transport: Transport, context: Context | None = None) -> None:
        self.venue = venue
        self.transport = transport
        self.context = context

    def bar_columns(self, kwargs: dict[str, Any]) -> BarColumns:
        """`get_bars(..., columns=True)`: a backtest's own run answers with columns; elsewhere (paper, live, the
        sealed re-run past what it keeps) they are built here from the bars `get_bars` answers."""
        read = getattr(self.transport, "bar_columns", None)
        if read is not None:
            return BarColumns(*read(self.venue, kwargs))
        return BarColumns.from_rows(self.transport.call(self.venue, "get_bars", kwargs))

    def order_from_side(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """`create_order(token_id=…, side="BUY" | "SELL", amount=usd, price=…)`, as older docs write it, as the
        entry or exit signal it means; the worker sizes and checks it like any other. Anything else is sent
        as it is, and refused with the reason."""
        side = str(kwargs.get("side", "")).upper()
        market = next((kwargs[key] for key in ("token_id", "ticker", "symbol", "market_id") if key in kwargs), None)
        if side not in ("BUY", "SELL") or market is None:
            return kwargs
        amount = kwargs.get("amount", kwargs.get("size_usd"))
        reason = str(kwargs.get("reason") or f"create_order(side={side!r})")
        index = self.context.signal_index if self.context is not None else None
        if side == "BUY":
            # "BUY" names the action, not the outcome: the signal being executed lends its side (a NO signal buys
            # NO), and what else the call leaves out (Kelly sizes with its confidence); without one, the first side.
            signal = self.context.entry_signal if self.context is not None else None
            sides = SIDES_BY_PLATFORM.get(self.venue, ("yes",))
            lent = signal is not None and signal.market_id == str(market) and signal.side in sides
            order: dict[str, Any] = {"intent": "entry", "market_id": str(market), "reason": reason,
                                     "side": signal.side if lent and signal is not None else sides[0],
                                     "size_usd": amount}
            if kwargs.get("price") is not None:
                order["limit_price"] = kwargs["price"]
            for name in ("confidence", "market_name"):
                if kwargs.get(name) is not None:
                    order[name] = kwargs[name]
                elif signal is not None and signal.market_id == str(market):
                    order[name] = getattr(signal, name)
            return {**order, "signal_index": index}
        positions = self.context.positions if self.context is not None else []
        held = next((p for p in positions if str(market) in (p.position_id, p.market_id)), None)
        fraction = 1.0
        if held is not None and held.size > 0 and isinstance(amount, int | float) and not isinstance(amount, bool):
            fraction = max(min(1.0, float(amount) / held.size), 1e-9)
        return {"intent": "exit", "position_id": held.position_id if held else str(market), "reason": reason,
                "fraction": fraction, "signal_index": index}

    def __getattr__(self, name: str) -> _VenueMethod:
        params = VENUE_METHODS.get(self.venue, {}).get(name)
        if params is None:
            methods = ", ".join(sorted(VENUE_METHODS.get(self.venue, {})))
            raise AttributeError(f"ctx.{self.venue} has no method {name!r}; it offers: {methods}")
        return _VenueMethod(self, name, params)

    def __await__(self) -> Generator[Any, None, VenueProxy]:
        return _resolved(self).__await__()

    def __dir__(self) -> list[str]:
        return sorted(VENUE_METHODS.get(self.venue, {}))

    def __repr__(self) -> str:
        return f"<VenueProxy {self.venue}>"


# What awaiting gives back unchanged (each `__await__` above returns the object itself): a cycle need not start an
# event loop to await one that a sync method returned (`execute_entry` returns its order's reply).
AWAITS_TO_ITSELF = (VenueResult, VenueResultList, BarColumns, VenueProxy)


@dataclass
class Context:
    """The `ctx` a strategy receives each cycle (docs/strategies.md)."""

    strategy_id: str
    platform: str
    mode: str
    dry_run: bool
    now: datetime
    params: dict[str, Any]
    state: dict[str, Any]
    capital: Capital
    positions: list[Position]
    transport: Transport = field(repr=False)
    # Index of the signal being executed, set by the runtime during execute_entry/execute_exit.
    signal_index: int | None = None
    # The entry signal execute_entry is running for, so `create_order(side="BUY", …)` keeps its fields.
    entry_signal: EntrySignal | None = None

    def __post_init__(self) -> None:
        self.polymarket = VenueProxy("polymarket", self.transport, self)
        self.kalshi = VenueProxy("kalshi", self.transport, self)
        self.alpaca = VenueProxy("alpaca", self.transport, self)

    @property
    def venue(self) -> VenueProxy:
        """The client of this strategy's own platform."""
        client: VenueProxy = getattr(self, self.platform)
        return client

    def log(self, msg: object, level: str = "info") -> None:
        if level not in LOG_LEVELS:
            raise ValueError(f"ctx.log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        self.transport.log(level, str(msg))


class BaseStrategy:
    """One strategy, whatever its file layout. Subclass it in `strategy.py`.

    `should_enter` and `should_exit` may be plain or `async def`. Override `execute_entry` /
    `execute_exit` to change how an order is placed; the defaults send the signal to the worker,
    which sizes it with the capital engine, checks it and places it.
    """

    state: dict[str, Any]
    params: dict[str, Any]

    @property
    def config(self) -> ConfigView:
        """config.json; keys read as items or as attributes (`self.config.risk_limits`)."""
        return self.__dict__.get("_config") or ConfigView()

    @config.setter
    def config(self, value: Mapping[str, Any]) -> None:
        self.__dict__["_config"] = ConfigView(value or {})

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        # The loader binds config, params and state before __init__, so a subclass that skips
        # super().__init__() still works; only fill what is still missing.
        if config is not None and config is not self.__dict__.get("_config"):  # the loader's: already a copy
            self.config = config
        if not hasattr(self, "params"):
            self.params = dict(self.config.get("parameters") or {})
        if not hasattr(self, "state"):
            self.state = {}

    def get_param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def should_enter(self, ctx: Context) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define should_enter(self, ctx)")

    def should_exit(self, ctx: Context, position: Position) -> Any:
        return None

    def execute_entry(self, ctx: Context, signal: EntrySignal) -> Any:
        return ctx.venue.create_order(**signal.order_request(), signal_index=ctx.signal_index)

    def execute_exit(self, ctx: Context, signal: ExitSignal) -> Any:
        return ctx.venue.create_order(**signal.order_request(), signal_index=ctx.signal_index)
