"""Buy when the last close is `entry_z` standard deviations below the lookback mean."""

import statistics

from datetime import timedelta

from strategies.sdk import EntrySignal


def should_enter(ctx):
    held = {position.market_id for position in ctx.positions}
    lookback = int(ctx.params.get("lookback", 20))
    signals = []
    for symbol in ctx.params.get("symbols", []):
        if symbol in held:
            continue
        closes = ctx.alpaca.get_bars(symbol, timeframe="1Day", start=since(ctx, lookback), columns=True).close
        if len(closes) < lookback:
            ctx.log(f"{symbol}: only {len(closes)} bars, need {lookback}", level="warning")
            continue
        mean, spread = statistics.fmean(closes), statistics.pstdev(closes)
        z = (closes[-1] - mean) / spread if spread else 0.0
        if z <= ctx.params.get("entry_z", -2.0):
            signals.append(EntrySignal(market_id=symbol, side="buy", reason=f"z-score {z:.2f} vs {lookback}-bar mean",
                                       confidence=0.6, market_name=symbol))
    return signals


def since(ctx, bars):
    """Alpaca returns only today's bars without a start; ask for enough calendar days to hold `bars` sessions."""
    return (ctx.now - timedelta(days=bars * 2)).isoformat()
