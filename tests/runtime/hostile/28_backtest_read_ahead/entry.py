# ATTACK: in a backtest, read data from after ctx.now: far-future history ranges, moving ctx.now, future markets
# EXPECTED SAFE OUTCOME: every reply holds only data from at or before the worker's now; RESULT has no PWNED
import json
from datetime import datetime, timedelta


def stamp(value):
    """Epoch seconds of a reply's time field (ISO string or unix number), or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and len(value) >= 10:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def latest(reply):
    """The latest time anywhere in a reply."""
    best = None
    stack = [reply]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in ("t", "timestamp", "time"):
                    moment = stamp(value)
                    if moment is not None and (best is None or moment > best):
                        best = moment
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return best


def attack(ctx, p):
    now = ctx.now.timestamp()
    real_now = ctx.now
    ctx.now = real_now + timedelta(days=3650)  # the worker's clock is its own: this changes nothing it answers
    seen, errors = [], []
    calls = []
    for token in [*p.get("tokens", []), *p.get("future_tokens", [])]:
        calls += [
            ("get_prices_history", {"market": token, "start_ts": now, "end_ts": now + 86400 * 365}),
            ("get_prices_history", {"market": token, "start_ts": 0, "end_ts": 4102444800, "fidelity": 1}),
            ("get_order_book", {"token_id": token}),
            ("get_midpoint", {"token_id": token}),
        ]
    calls += [("get_markets", {})]
    for condition in p.get("future_markets", []):
        calls.append(("get_market", {"condition_id": condition}))
    for method, kwargs in calls:
        try:
            reply = getattr(ctx.polymarket, method)(**kwargs)
        except Exception as error:  # refused: nothing leaked
            errors.append(f"{method}: {str(error)[:80]}")
            continue
        moment = latest(reply)
        if moment is not None:
            seen.append(moment)
        if method == "get_markets":
            ids = {m.get("condition_id") for m in reply.get("data", [])} if isinstance(reply, dict) else set()
            leaked = sorted(ids & set(p.get("future_markets", [])))
            if leaked:
                return {"PWNED:future_market": leaked}
    ahead = [m for m in seen if m > now]
    ctx.now = real_now
    if ctx.mode == "backtest":  # a cycle's hostile run must leave no state
        ctx.state["checked"] = ctx.state.get("checked", 0) + 1
    if ahead:
        return {"PWNED:future_data": max(ahead) - now}
    return {"latest_seen": max(seen) if seen else None, "now": now, "refused": len(errors)}


def should_enter(ctx):
    p = dict(getattr(ctx, "params", {}) or {})
    try:
        out = attack(ctx, p)
    except BaseException as e:  # the attack's own failure is an expected outcome
        out = {"raised": repr(e)[:500]}
    ctx.log("RESULT " + json.dumps(out, default=str)[:60000])
    return []
