"""A sealed step's frames are built from each bar's JSON text, encoded once per series: byte for byte the frames that
encoding the step's dicts gives (the sealed run parses the very same JSON)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from runtime.channel import encode_frame
from runtime.outcome import json_default
from runtime.step_session import BARS_PER_FRAME, _bar_columns, _bar_frames
from tests.backtest.conftest import goog_csv
from trading.backtest.data import BarSeries, bars_from_rows, load_csv
from trading.backtest.engine import BacktestEngine, BacktestSpec
from trading.capital import CapitalPlan

CONFIG = {"capital": {"total_capital": 10_000, "capital_per_trade": 100, "max_positions": 1,
                      "max_position_size": 100, "max_daily_loss": 100, "sizing_method": "fixed"}}


def frames_from_dicts(closed: dict[str, Any], step: int, ctx: dict[str, Any], desk: dict[str, Any]) -> list[bytes]:
    """The frames as encode_frame gives them for the step's dicts (how they were built before the texts)."""
    frames, riding, room = [], [], BARS_PER_FRAME
    for symbol, fresh in closed.items():
        for at in range(0, len(fresh["bars"]), BARS_PER_FRAME):
            chunk = _bar_columns(symbol, fresh, at, at + BARS_PER_FRAME)
            if at + BARS_PER_FRAME >= len(fresh["bars"]) and len(chunk["t"]) <= room:
                riding.append(chunk)
                room -= len(chunk["t"])
            else:
                frames.append(encode_frame({"type": "bars", **chunk}))
    message: dict[str, Any] = {"type": "step", "step": step, "ctx": ctx}
    if riding:
        message["bars"] = riding
    message["desk"] = desk
    frames.append(encode_frame(message, default=json_default))
    return frames


def engine() -> BacktestEngine:
    goog = load_csv(goog_csv(), symbol="GOOG")
    # a second symbol with a name JSON must escape, and prices with many digits
    other = bars_from_rows('Ünï"\\', [(bar.start, bar.open / 3, bar.high / 3, bar.low / 3, bar.close / 3,
                                        Decimal(0)) for bar in goog.bars[:700]], goog.period)
    spec = BacktestSpec("alpaca", CapitalPlan.from_config(CONFIG, "alpaca"), 86400, params={"n": "é"})
    return BacktestEngine(spec, bars={"GOOG": goog, other.symbol: other})


def test_a_sealed_steps_frames_are_the_frames_its_dicts_encode_to() -> None:
    engine_ = engine()
    steps = engine_.steps()
    checked = [0, 1, 2, 300, 301, 2140, len(steps) - 1]  # the step at 2140 sends more than a frame's bars
    sent = 0
    for number, index in enumerate(checked, start=1):
        engine_.now = steps[index]
        closed = engine_.closed_bars(engine_.now)
        ctx, desk = engine_.frame({"kept": [1, 2.5, None]}), engine_.desk_json()
        assert all(fresh["json"] is not None for fresh in closed.values())
        plain = {symbol: {**fresh, "json": None} for symbol, fresh in closed.items()}
        frames = _bar_frames(closed, number, ctx, desk)
        assert frames == _bar_frames(plain, number, ctx, desk) == frames_from_dicts(plain, number, ctx, desk)
        sent += sum(len(fresh["bars"]) for fresh in closed.values())
        if index == 2140:
            assert len(frames) > 1
    assert sent == sum(series.visible(steps[-1]) for series in engine_.bars.values())


def test_the_json_texts_hold_no_bar_after_now() -> None:
    engine_ = engine()
    engine_.now = engine_.steps()[500]
    for symbol, fresh in engine_.closed_bars(engine_.now).items():
        series: BarSeries = engine_.bars[symbol]
        assert len(fresh["json"]["t"]) == len(fresh["bars"]) == series.visible(engine_.now)
        assert all(len(column) == len(fresh["bars"]) for column in fresh["json"].values())
