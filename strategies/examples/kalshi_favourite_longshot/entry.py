"""Enter favourites: YES asks between min_price and max_price."""

from strategies.sdk import EntrySignal


def should_enter(ctx):
    held = {position.market_id for position in ctx.positions}
    low, high = ctx.params.get("min_price", 0.85), ctx.params.get("max_price", 0.95)
    signals = []
    for ticker in ctx.params.get("tickers", []):
        if ticker in held:
            continue
        market = ctx.kalshi.get_market(ticker)
        ask = float(market.get("yes_ask_dollars") or 0)
        if low <= ask <= high:
            signals.append(EntrySignal(
                market_id=ticker,
                side="yes",
                reason=f"favourite at {ask:.2f}",
                confidence=min(0.99, ask + 0.03),
                market_name=market.get("title", ticker),
                limit_price=ask,
            ))
    ctx.log(f"scanned {len(ctx.params.get('tickers', []))} markets, {len(signals)} favourites")
    return signals
