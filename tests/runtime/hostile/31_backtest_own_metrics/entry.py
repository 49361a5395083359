# ATTACK: in a backtest whose loop runs inside its sandboxed run, write its own metrics: replace the results class's
# digest with one of a forged result, rewrite the run's equity curve into a straight climb and its trades into winners
# EXPECTED SAFE OUTCOME: the worker computes every figure from its own replay outside the sandbox; the claim differs, the
# backtest fails as tampered, and no forged figure reaches the result; RESULT has no PWNED
import gc
import json
import sys
from decimal import Decimal

from strategies.sdk import EntrySignal


def forge():
    module = sys.modules.get("trading.backtest.engine")
    if module is None:
        return False
    module.BacktestResult.digest = lambda self: "0" * 64  # "trust me"
    for engine in [t for t in gc.get_objects() if type(t).__name__ == "BacktestEngine"]:
        engine.equity[:] = [(moment, Decimal(1000 + 100 * index)) for index, (moment, _) in enumerate(engine.equity)]
        for trade in engine.trades:
            trade["pnl"], trade["return_pct"] = "1000", 100.0
    return True


def should_enter(ctx):
    forged = forge() if ctx.mode == "backtest" else False
    print("RESULT " + json.dumps({"mode": ctx.mode, "forged": forged}))
    if ctx.mode != "backtest" or ctx.positions:
        return []
    closes = [float(bar["c"]) for bar in ctx.alpaca.get_bars(ctx.params["symbol"], timeframe="1Day", limit=2)]
    if len(closes) == 2 and closes[1] > closes[0]:
        return [EntrySignal(ctx.params["symbol"], "buy", "the close rose", size_usd=100)]
    return []
