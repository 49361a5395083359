"""Sell on the rebound to the mean, or on the stop-loss."""

from datetime import timedelta

from strategies.sdk import ExitSignal


def should_exit(ctx, position):
    change = position.unrealized_pnl / position.size if position.size else 0.0
    if change <= -ctx.params.get("stop_loss", 0.05):
        return ExitSignal(position.position_id, reason=f"stop loss at {change:+.1%}")
    lookback = int(ctx.params.get("lookback", 20))
    closes = ctx.alpaca.get_bars(position.market_id, timeframe="1Day", start=since(ctx, lookback), columns=True).close
    if closes and closes[-1] >= sum(closes) / len(closes):
        return ExitSignal(position.position_id, reason="back at the mean")
    return None


def since(ctx, bars):
    """Alpaca returns only today's bars without a start; ask for enough calendar days to hold `bars` sessions."""
    return (ctx.now - timedelta(days=bars * 2)).isoformat()
