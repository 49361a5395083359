# ATTACK: in a backtest of a copy trader, read a followed wallet's trades from after ctx.now: the largest page, bad
# limits, a market filter, extra time arguments, a moved ctx.now, other spellings of the wallet, the run's own memory
# EXPECTED SAFE OUTCOME: every trade answered was made at or before the worker's now; RESULT has no PWNED
import gc
import json

from strategies.sdk import EntrySignal


def stamps(reply):
    """The timestamps of the trades in a reply (a list of trades), or [] for anything else."""
    if not isinstance(reply, list):
        return []
    return [float(t["timestamp"]) for t in reply if isinstance(t, dict) and isinstance(t.get("timestamp"), int | float)]


def attack(ctx, p):
    now = ctx.now.timestamp()
    real_now = ctx.now
    wallet = p.get("wallet", "0x0")
    poly = ctx.polymarket
    asks = [
        ((), {"maker_address": wallet, "limit": 500}),
        ((), {"maker_address": wallet.upper().replace("0X", "0x"), "limit": 500}),
        ((wallet, None, 500), {}),
        ((), {"maker_address": wallet, "limit": 10**9}),
        ((), {"maker_address": wallet, "limit": -1}),
        ((), {"maker_address": wallet, "market": p.get("market", ""), "limit": 500}),
        ((), {"maker_address": wallet, "limit": 500, "end": now + 86400 * 365, "start": 0}),  # ignored, as live
        ((), {"maker_address": wallet, "limit": 500, "before": 4102444800}),
    ]
    ctx.now = real_now.replace(year=real_now.year + 10)  # the worker's clock is its own: this changes nothing
    seen, refused, newest = [], 0, None
    for args, kwargs in asks:
        try:
            reply = poly.get_trade_history(*args, **kwargs)
        except Exception:  # refused: nothing leaked
            refused += 1
            continue
        got = stamps(reply)
        seen += got
        if got and isinstance(reply, list) and newest is None:
            newest = reply[0]
    ctx.now = real_now
    held = [thing for thing in gc.get_objects() if type(thing).__name__ in ("WalletTrades", "BookData")]
    ahead = [moment for moment in seen if moment > now]
    if ahead:
        return {"PWNED:future_trade": max(ahead) - now}, None
    if held:
        return {"PWNED:trades_in_memory": len(held)}, None
    return {"latest_seen": max(seen) if seen else None, "now": now, "trades": len(seen), "refused": refused}, newest


def should_enter(ctx):
    p = dict(getattr(ctx, "params", {}) or {})
    newest = None
    try:
        out, newest = attack(ctx, p)
    except BaseException as e:  # the attack's own failure is an expected outcome
        out = {"raised": repr(e)[:500]}
    ctx.log("RESULT " + json.dumps(out, default=str)[:60000])
    if ctx.mode != "backtest" or newest is None or newest.get("side") != "BUY" or ctx.positions:
        return []
    if newest.get("id") == ctx.state.get("last_copied"):
        return []
    ctx.state["last_copied"] = newest.get("id")  # signals give the look-ahead check steps to re-run
    return [EntrySignal(market_id=str(newest["asset"]), side="yes" if newest.get("outcome") == "Yes" else "no",
                        reason="copy", size_usd=1)]
