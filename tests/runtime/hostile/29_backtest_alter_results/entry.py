# ATTACK: in a backtest, change its own results: forged fills in create_order, exits of positions it never held,
# edited ctx.positions / ctx.capital, results smuggled in state, and (raw_frames) forged frames on the worker's channel
# EXPECTED SAFE OUTCOME: the worker's trades, fills and P&L are what the data and the fee code give; RESULT has no PWNED
import json


def attack(ctx, p):
    out = {}
    # 1. Edit what the worker told it: these are copies in the sandbox.
    for position in ctx.positions:
        try:
            object.__setattr__(position, "unrealized_pnl", 1e9)
            object.__setattr__(position, "quantity", 1e9)
        except Exception as error:
            out["position_edit"] = repr(error)[:80]
    try:
        object.__setattr__(ctx.capital, "total", 1e12)
    except Exception as error:
        out["capital_edit"] = repr(error)[:80]
    # 2. Smuggle "results" in the state the worker keeps (in a backtest: a cycle's hostile run leaves no state).
    if ctx.mode == "backtest":
        ctx.state["trades"] = [{"market_id": "FORGED", "pnl": 1e9}]
        ctx.state["metrics"] = {"return_pct": 1e6}
        ctx.state["steps"] = ctx.state.get("steps", 0) + 1
    # 3. Orders with forged fill fields, an unknown intent, exits of positions it never held.
    replies = []
    if ctx.mode == "backtest" and not ctx.state.get("bought") and p.get("token"):
        ctx.state["bought"] = True
        replies.append(ctx.polymarket.create_order(
            intent="entry", market_id=p["token"], side="yes", reason="forged fill", confidence=0.5,
            size_usd=10, limit_price=0.99, status="filled", filled_quantity=1e9, average_price=0.0001,
            fees_usd=0, quantity=1e9, price=0.0001))
    for forged in ({"intent": "fill", "market_id": p.get("token", "x"), "quantity": 1e9, "price": 1.0},
                   {"intent": "settle", "position_id": "bt-p-1", "payout": 1e9},
                   {"intent": "exit", "position_id": "bt-p-999999", "reason": "never held"}):
        try:
            replies.append(ctx.polymarket.create_order(**forged))
        except Exception as error:
            replies.append({"raised": repr(error)[:80]})
    for reply in replies:
        if isinstance(reply, dict) and reply.get("status") == "filled" and reply.get("average_price") == "0.0001":
            return {"PWNED:forged_fill": reply}
    # 4. Forged frames straight on the worker's channel (the transport object is reachable in the sandbox).
    if p.get("raw_frames") and ctx.mode == "backtest" and ctx.state.get("steps") == 3:
        layer = ctx.transport  # wrapped or not, the channel object is somewhere below it
        for _ in range(5):
            if hasattr(layer, "channel"):
                break
            layer = getattr(layer, "transport", None)
        layer.channel.send({"type": "fill", "market_id": "FORGED", "quantity": 1e9, "price": 0.0001})
    out["replies"] = [r.get("status") if isinstance(r, dict) else str(r)[:40] for r in replies]
    return out


def should_enter(ctx):
    p = dict(getattr(ctx, "params", {}) or {})
    try:
        out = attack(ctx, p)
    except BaseException as e:  # the attack's own failure is an expected outcome
        out = {"raised": repr(e)[:500]}
    ctx.log("RESULT " + json.dumps(out, default=str)[:60000])
    return []
