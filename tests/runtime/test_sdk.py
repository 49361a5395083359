"""The SDK a script sees: signal validation, positions, ctx clients, imports without Django."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from runtime.sandbox import REPO_ROOT
from runtime.sdk import (
    BaseStrategy,
    Capital,
    Context,
    EntrySignal,
    ExitSignal,
    Position,
    SignalError,
    VenueError,
)


class RecordingTransport:
    def __init__(self, reply: Any = None) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.logs: list[tuple[str, str]] = []
        self.reply = reply

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((venue, method, kwargs))
        return self.reply

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))


def make_ctx(transport: RecordingTransport, platform: str = "polymarket") -> Context:
    from datetime import UTC, datetime

    return Context("1", platform, "paper", False, datetime.now(UTC), {}, {}, Capital(), [], transport)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"market_id": 12}, "EntrySignal.market_id must be a string, got 12 (int)"),
        ({"market_id": " "}, "EntrySignal.market_id must be a non-empty string"),
        ({"side": "long"}, "EntrySignal.side must be one of yes, no, buy, sell, got 'long'"),
        ({"reason": ""}, "EntrySignal.reason must be a non-empty string"),
        ({"confidence": 1.5}, "EntrySignal.confidence must be in [0, 1], got 1.5"),
        ({"confidence": "high"}, "EntrySignal.confidence must be a number, got 'high' (str)"),
        ({"confidence": True}, "EntrySignal.confidence must be a number, got True (bool)"),
        ({"confidence": float("nan")}, "EntrySignal.confidence must be a finite number"),
        ({"size_usd": 0}, "EntrySignal.size_usd must be > 0 when given, got 0"),
        ({"size_usd": -5.0}, "EntrySignal.size_usd must be > 0 when given, got -5.0"),
        ({"limit_price": 0}, "EntrySignal.limit_price must be > 0 when given, got 0"),
        ({"market_name": None}, "EntrySignal.market_name must be a string, got None (NoneType)"),
    ],
)
def test_entry_signal_names_the_field_and_value(kwargs: dict[str, Any], message: str) -> None:
    fields = {"market_id": "m", "side": "yes", "reason": "r", **kwargs}
    with pytest.raises(
        SignalError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        EntrySignal(**fields)


def test_entry_signal_sides_and_prices_depend_on_the_platform() -> None:
    EntrySignal("m", "yes", "r", limit_price=0.4).check_platform("kalshi")
    EntrySignal("SPY", "buy", "r", limit_price=412.5).check_platform("alpaca")
    with pytest.raises(SignalError, match="EntrySignal.side must be yes or no on polymarket, got 'buy'"):
        EntrySignal("m", "buy", "r").check_platform("polymarket")
    with pytest.raises(SignalError, match="EntrySignal.side must be buy or sell on alpaca, got 'yes'"):
        EntrySignal("SPY", "yes", "r").check_platform("alpaca")
    with pytest.raises(SignalError, match=r"EntrySignal.limit_price must be in \(0, 1\) on kalshi, got 1.0"):
        EntrySignal("m", "no", "r", limit_price=1.0).check_platform("kalshi")


def test_exit_signal_validates_fraction_and_ids() -> None:
    assert ExitSignal("7", "stop").fraction == 1.0
    with pytest.raises(SignalError, match=r"ExitSignal.fraction must be in \(0, 1\], got 0"):
        ExitSignal("7", "stop", fraction=0)
    with pytest.raises(SignalError, match=r"ExitSignal.fraction must be in \(0, 1\], got 1.5"):
        ExitSignal("7", "stop", fraction=1.5)
    with pytest.raises(SignalError, match="ExitSignal.position_id must be a string, got 7 \\(int\\)"):
        ExitSignal(7, "stop")  # type: ignore[arg-type]


def test_signals_round_trip_and_reject_unknown_fields() -> None:
    signal = EntrySignal("m", "no", "why", confidence=1, size_usd=10, limit_price=0.3)
    assert EntrySignal.from_dict(signal.as_dict()) == signal
    with pytest.raises(SignalError, match="EntrySignal has unknown fields: amount"):
        EntrySignal.from_dict({**signal.as_dict(), "amount": 5})


def test_a_signal_s_dict_is_dataclasses_asdict_of_it() -> None:
    class Ticker(str):
        def __deepcopy__(self, _memo: dict[int, Any]) -> str:
            return "copied"

    signals: list[EntrySignal | ExitSignal] = [
        EntrySignal("GOOG", "buy", "cross", confidence=1, market_name="Alphabet", size_usd=10),
        EntrySignal(Ticker("GOOG"), "buy", "cross"), ExitSignal("bt-p-1", "cross back", fraction=0.5)]
    for signal in signals:
        assert list(signal.as_dict().items()) == list(dataclasses.asdict(signal).items())
    assert signals[1].as_dict()["market_id"] == "copied"  # a str subclass is still deep-copied, as asdict does


def test_position_return_is_pnl_over_size() -> None:
    position = Position.from_dict(
        {"position_id": 3, "market_id": "m", "size": "200", "unrealized_pnl": "50", "opened_at": "2026-01-02T03:04:05"}
    )
    assert position.position_id == "3"
    assert position.unrealized_pnl / position.size == 0.25
    assert position.opened_at is not None and position.opened_at.tzinfo is not None


def test_venue_clients_map_positional_arguments_and_can_be_awaited() -> None:
    transport = RecordingTransport(reply={"mid": "0.5"})
    ctx = make_ctx(transport)
    assert ctx.polymarket.get_price("tok", "BUY") == {"mid": "0.5"}

    async def strategy() -> Any:
        poly = await ctx.polymarket
        return await poly.get_order_book("tok")

    assert asyncio.run(strategy()) == {"mid": "0.5"}
    assert transport.calls == [
        ("polymarket", "get_price", {"token_id": "tok", "side": "BUY"}),
        ("polymarket", "get_order_book", {"token_id": "tok"}),
    ]
    with pytest.raises(AttributeError, match="ctx.kalshi has no method 'get_order_book'"):
        ctx.kalshi.get_order_book("x")
    with pytest.raises(TypeError, match="takes 1 positional arguments, got 2"):
        ctx.alpaca.get_latest_quote("SPY", "extra")


def test_ctx_log_checks_its_level() -> None:
    transport = RecordingTransport()
    ctx = make_ctx(transport)
    ctx.log(42, level="warning")
    assert transport.logs == [("warning", "42")]
    with pytest.raises(ValueError, match="ctx.log level must be one of"):
        ctx.log("x", level="loud")


def test_default_execute_entry_sends_the_order_request() -> None:
    transport = RecordingTransport(reply={"order_id": "1"})
    ctx = make_ctx(transport, platform="kalshi")
    ctx.signal_index = 2

    class Mine(BaseStrategy):
        def should_enter(self, ctx: Context) -> list[EntrySignal]:
            return []

    assert Mine().execute_entry(ctx, EntrySignal("T", "yes", "r", limit_price=0.9)) == {"order_id": "1"}
    venue, method, kwargs = transport.calls[0]
    assert (venue, method, kwargs["intent"], kwargs["signal_index"], kwargs["market_id"]) == (
        "kalshi",
        "create_order",
        "entry",
        2,
        "T",
    )
    assert VenueError.__mro__[1] is Exception


def test_base_strategy_gives_config_params_and_state() -> None:
    strategy = BaseStrategy({"parameters": {"lookback": 20}})
    assert strategy.get_param("lookback") == 20
    assert strategy.get_param("missing", 7) == 7
    assert strategy.state == {}


@pytest.mark.parametrize("module", ["strategies.sdk", "runtime", "runtime.sdk", "servers.strategies"])
def test_it_imports_without_django(module: str) -> None:
    code = f"import sys, {module}; assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django'"
    completed = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); {code}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr


def test_the_old_import_path_gives_the_same_classes() -> None:
    from servers.strategies import BaseStrategy as Old
    from servers.strategies import EntrySignal as OldEntry

    assert Old is BaseStrategy and OldEntry is EntrySignal


def test_config_reads_as_attributes_as_older_docs_write_it() -> None:
    from runtime.sdk import BaseStrategy

    strategy = BaseStrategy({"risk_limits": {"max_order_usd": 100}, "name": "x"})
    assert strategy.config.risk_limits["max_order_usd"] == 100
    assert strategy.config["risk_limits"] == {"max_order_usd": 100} and strategy.config.name == "x"
    with pytest.raises(AttributeError, match="config.json has no key 'risk'; it has: name, risk_limits"):
        _ = strategy.config.risk


def test_create_order_with_a_side_and_an_amount_becomes_the_signal_it_means() -> None:
    from datetime import UTC, datetime

    from runtime.sdk import Capital, Context, Position

    sent: list[tuple[str, str, dict[str, Any]]] = []

    class Recorder:
        def call(self, venue, method, kwargs):
            sent.append((venue, method, kwargs))
            return {"status": "placed"}

        def log(self, level, message):
            pass

    held = Position("p1", "polymarket", "tok", "", "yes", 50.0, 100.0, 0.5, 0.5, 0.0, None)
    ctx = Context("1", "polymarket", "paper", False, datetime.now(UTC), {}, {}, Capital(), [held], Recorder())
    ctx.signal_index = 2
    ctx.polymarket.create_order(token_id="tok2", side="BUY", amount=100)
    ctx.polymarket.create_order(token_id="tok", side="SELL", amount=25.0)
    assert sent[0][2] == {"intent": "entry", "market_id": "tok2", "reason": "create_order(side='BUY')", "side": "yes",
                          "size_usd": 100, "signal_index": 2}
    assert sent[1][2] == {"intent": "exit", "position_id": "p1", "reason": "create_order(side='SELL')",
                          "fraction": 0.5, "signal_index": 2}
