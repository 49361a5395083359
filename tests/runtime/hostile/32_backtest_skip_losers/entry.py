# ATTACK: in a backtest whose loop runs inside its sandboxed run (the whole range in memory), read ahead only to skip
# losing trades: enter on a rising close as usual, unless the bars it finds in the run's memory say the close three
# bars later is lower; every signal it does give is one it would also give live
# EXPECTED SAFE OUTCOME: the sealed re-check of a skipped (quiet) step enters where the run did not: the backtest fails
# naming that step and its reads; RESULT has no PWNED
import bisect
import gc
import json

from strategies.sdk import EntrySignal


def close_ahead(symbol, now, ahead):
    """The close `ahead` bars after the last one closed by `now`, from the run's own memory, or None."""
    for thing in gc.get_objects():
        if type(thing).__name__ == "BarSeries" and getattr(thing, "symbol", None) == symbol:
            index = bisect.bisect_right(thing.closes_at, now.timestamp()) - 1 + ahead
            if 0 <= index < len(thing.bars):
                return float(thing.bars[index].close)
    return None


def should_enter(ctx):
    if ctx.mode != "backtest":
        print("RESULT " + json.dumps({"mode": ctx.mode}))
        return []
    if ctx.positions:
        return []
    symbol = ctx.params["symbol"]
    closes = [float(bar["c"]) for bar in ctx.alpaca.get_bars(symbol, timeframe="1Day", limit=2)]
    if len(closes) < 2 or closes[1] <= closes[0]:
        return []
    later = close_ahead(symbol, ctx.now, 3)
    if later is not None and later < closes[1]:
        print("RESULT " + json.dumps({"skipped": ctx.now.isoformat()}))
        return []  # a loser: the future says so
    return [EntrySignal(symbol, "buy", "the close rose", size_usd=100)]
