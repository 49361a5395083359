"""Close when the fast average crosses back below the slow one."""

from strategies.sdk import ExitSignal


def should_exit(ctx, position):
    fast, slow = int(ctx.params.get("fast", 10)), int(ctx.params.get("slow", 20))
    closes = ctx.alpaca.get_bars(position.market_id, timeframe="1Day", limit=slow + 1, columns=True).close
    if len(closes) < slow + 1:
        return None

    def mean(values):
        return sum(values) / len(values)

    fast_then, fast_now = mean(closes[-fast - 1:-1]), mean(closes[-fast:])
    slow_then, slow_now = mean(closes[-slow - 1:-1]), mean(closes[-slow:])
    if fast_then > slow_then and fast_now < slow_now:
        return ExitSignal(position.position_id, reason="the fast average crossed below the slow one")
    return None
