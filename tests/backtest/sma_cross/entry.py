"""Buy when the fast average crosses above the slow one (the previous bar below, this bar above)."""

from strategies.sdk import EntrySignal


def should_enter(ctx):
    symbol = ctx.params.get("symbol", "GOOG")
    if any(position.market_id == symbol for position in ctx.positions):
        return []
    fast, slow = averages(ctx, symbol)
    if fast is None:
        return []
    if fast[0] < slow[0] and fast[1] > slow[1]:
        return [EntrySignal(market_id=symbol, side="buy", reason=f"SMA{ctx.params.get('fast', 10)} crossed above "
                            f"SMA{ctx.params.get('slow', 20)}", confidence=1.0, market_name=symbol)]
    return []


def averages(ctx, symbol):
    """(previous, last) of the fast and the slow simple moving averages of the closes, or (None, None)."""
    fast, slow = int(ctx.params.get("fast", 10)), int(ctx.params.get("slow", 20))
    # the last slow + 1 closed bars, as one list of floats (columns=True: no dict per bar)
    closes = ctx.alpaca.get_bars(symbol, timeframe="1Day", limit=slow + 1, columns=True).close
    if len(closes) < slow + 1:
        return None, None

    def mean(values):
        return sum(values) / len(values)

    return ((mean(closes[-fast - 1:-1]), mean(closes[-fast:])),
            (mean(closes[-slow - 1:-1]), mean(closes[-slow:])))
