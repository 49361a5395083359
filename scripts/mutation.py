"""Mutation testing of the money modules: `make mutation` (all) or `python scripts/mutation.py trading/fees.py`.

mutmut 3 runs over one module at a time, with only the tests that module needs, in its own work
folder under var/mutation/<module>/ (symlinks to the project, a generated setup.cfg, mutmut's
mutants/ copy). It prints, per module, mutants total / killed / survived / equivalent and the score
= killed / (total - equivalent). A survivor listed in EQUIVALENT (no input can tell it apart from
the original) is counted as equivalent, with its reason; every other survivor is printed with its diff.

Modules whose tests touch the database run one mutant at a time (one test database); the pure
ones two at a time. The database is `<DATABASE_URL>_mutation`, so a run never collides with your
own `pytest` on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "mutation"
MUTMUT = Path(sys.executable).parent / "mutmut"

# What the mutant copy needs to import Django and run the tests (trading/ is mutmut's source path).
PROJECT = ("accounts", "api", "chatfiles", "runtime", "servers", "strategies", "strategyhub", "templates", "static",
           "tests", "webhooks", "trading", "manage.py", "pyproject.toml")


@dataclass(frozen=True)
class Module:
    path: str
    tests: tuple[str, ...]
    database: bool  # its tests need Postgres: one worker

    @property
    def name(self) -> str:
        return Path(self.path).stem


MODULES = (
    Module("trading/fees.py", ("tests/trading/test_money_fees.py", "tests/trading/test_fees_exact.py",
                               "tests/trading/test_money_sizing.py", "tests/trading/test_paper_broker.py"),
           database=False),
    Module("trading/capital.py", ("tests/trading/test_money_sizing.py", "tests/trading/test_sizing_caps.py",
                                  "tests/trading/test_money_risk.py"),
           database=False),
    Module("trading/risk.py", ("tests/trading/test_money_risk.py", "tests/trading/test_risk_limits.py"),
           database=False),  # pure checks of plain values: their own tests, no database
    Module("trading/orders.py", ("tests/trading/test_money_positions.py", "tests/trading/test_money_live.py",
                                 "tests/trading/test_ledger_against_venue.py", "tests/trading/test_resolution.py",
                                 "tests/trading/test_paper_desk.py", "tests/trading/test_orders_venue.py",
                                 "tests/trading/test_live_exits.py", "tests/trading/test_live_settle.py",
                                 "tests/trading/test_live_cancel.py", "tests/trading/test_live_partial_fills.py",
                                 "tests/strategies/test_recovery.py"),
           database=True),
    Module("trading/reconcile.py", ("tests/trading/test_money_live.py", "tests/trading/test_ledger_against_venue.py",
                                    "tests/trading/test_orders_venue.py", "tests/trading/test_live_exits.py",
                                    "tests/trading/test_live_settle.py", "tests/trading/test_live_partial_fills.py",
                                    "tests/trading/test_venue_accounts_live.py", "tests/trading/test_live_reconcile.py",
                                    "tests/strategies/test_recovery.py"),
           database=True),
)

# Survivors no test can kill: (module, function, "line → mutated line" as mutmut shows it) → why no input tells
# them apart. A changed line no longer matches, and the mutant is counted as a survivor again until reviewed.
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("trading/fees.py", "order_fee",
     "shares = sum((q for q, _ in fills), Decimal(0)) → shares = sum((q for q, _ in fills), )"):
        "sum() starts at int 0 instead: the same Decimal total, and no fills return 0 before it is used",
    ("trading/fees.py", "order_fee",
     "principal = sum((q * p for q, p in fills), Decimal(0)) → principal = sum((q * p for q, p in fills), )"):
        "sum() starts at int 0 instead: the same Decimal total, and no fills return 0 before it is used",
    ("trading/fees.py", "polymarket_taker_rate",
     'return POLYMARKET_TAKER_RATES.get((category or "").strip().lower(), POLYMARKET_DEFAULT_TAKER_RATE) → '
     'return POLYMARKET_TAKER_RATES.get((category or "XXXX").strip().lower(), POLYMARKET_DEFAULT_TAKER_RATE)'):
        'no category is looked up as "xxxx" instead of "": neither is a category, both get the default rate',
    ("trading/capital.py", "usd",
     "return value if isinstance(value, Decimal) else Decimal(str(value)) → "
     "return value if (isinstance(value, Decimal)) and False else Decimal(str(value))"):
        "Decimal(str(d)) == d for every Decimal: str() of a Decimal round-trips exactly",
    ("trading/capital.py", "fee_bound",
     'worst = limit_price * (ONE - limit_price) if limit_price <= HALF else Decimal("0.25") → '
     'worst = limit_price * (ONE - limit_price) if limit_price < HALF else Decimal("0.25")'):
        "at a limit of exactly 0.5 both branches give 0.25",
    ("trading/capital.py", "affordable_quantity",
     "if budget <= 0 or limit_price <= 0: → if budget < 0 or limit_price <= 0:"):
        "a budget of 0 goes on to quantity 0, which fits, and one step more costs more than 0: 0 either way",
    ("trading/capital.py", "affordable_quantity",
     "quantity = (budget / limit_price).quantize(step, rounding=ROUND_DOWN)  # the fee only lowers it from here → "
     "quantity = (budget / limit_price).quantize(step, rounding=None)  # the fee only lowers it from here"):
        "a start one step too high does not fit and is shrunk, then grown back: the same largest quantity",
    ("trading/capital.py", "affordable_quantity",
     "quantity = (budget / limit_price).quantize(step, rounding=ROUND_DOWN)  # the fee only lowers it from here → "
     "quantity = (budget / limit_price).quantize(step, )  # the fee only lowers it from here"):
        "a start one step too high does not fit and is shrunk, then grown back: the same largest quantity",
    ("trading/capital.py", "lot_sell",
     "released = lot.cost_usd if quantity == lot.quantity else money(lot.cost_usd * quantity / lot.quantity) → "
     "released = lot.cost_usd if (quantity == lot.quantity) and False else "
     "money(lot.cost_usd * quantity / lot.quantity)"):
        "selling all of a lot, cost × q / q is exactly the cost (6 decimals, far inside Decimal's 28 digits)",
    ("trading/orders.py", "new_part",
     "quantity = fill.quantity - sum((q for q, _ in recorded), Decimal(0)) → "
     "quantity = fill.quantity - sum((q for q, _ in recorded), )"):
        "sum() starts at int 0 instead: Decimal - 0 is the same Decimal, with or without recorded fills",
    ("trading/orders.py", "new_part",
     "cost = fill.quantity * fill.price - sum((q * p for q, p in recorded), Decimal(0)) → "
     "cost = fill.quantity * fill.price - sum((q * p for q, p in recorded), )"):
        "sum() starts at int 0 instead: Decimal - 0 is the same Decimal, with or without recorded fills",
    ("trading/orders.py", "new_part", "if quantity <= 0: → if quantity < 0:"):
        "a part of 0 never reaches it: fills are read after a state reporting more filled than recorded, "
        "and Alpaca's cumulative filled quantity only grows",
    ("trading/orders.py", "num", 'return format(value.normalize(), "f") → return format(value.normalize(), "F")'):
        '"F" differs from "f" only for infinity and NaN, which no quantity is',
    ("trading/orders.py", "prepared_again",
     "return PreparedOrder(order.venue, request, order.venue_order_id or None, dict(order.signed_order or {})) → "
     "return PreparedOrder(None, request, order.venue_order_id or None, dict(order.signed_order or {}))"):
        "no adapter reads PreparedOrder.platform: the client that posts it is already that venue's",
    ("trading/orders.py", "order_settle",
     'order.save(update_fields=["reject_reason", "updated_at"]) → order.save(update_fields=None)'):
        "saving every field writes the values just read: only a concurrent writer of this order could tell, "
        "and reconciliation leaves a running cycle's orders alone",
    ("trading/orders.py", "order_apply_state",
     "if state.venue_order_id and state.venue_order_id != order.venue_order_id: → "
     "if state.venue_order_id or state.venue_order_id != order.venue_order_id:"):
        "differs only for a state with no venue order id, and every adapter builds its states from the id the "
        "venue answered",
    ("trading/orders.py", "order_apply_state",
     'order.save(update_fields=["venue_order_id", "updated_at"]) → order.save(update_fields=None)'):
        "saving every field writes the values just read: only a concurrent writer of this order could tell, "
        "and reconciliation leaves a running cycle's orders alone",
    ("trading/orders.py", "look_up",
     "return client.get_order_by_client_id(order.client_order_id, instrument_id=order.market_id) → "
     "return client.get_order_by_client_id(order.client_order_id, instrument_id=None)"):
        "a client order id is unique in its account: Kalshi finds the same order without the ticker filter "
        "(it reads more pages), Alpaca ignores the instrument, Polymarket has no client ids",
    ("trading/orders.py", "look_up",
     "return client.get_order_by_client_id(order.client_order_id, instrument_id=order.market_id) → "
     "return client.get_order_by_client_id(order.client_order_id, )"):
        "a client order id is unique in its account: Kalshi finds the same order without the ticker filter "
        "(it reads more pages), Alpaca ignores the instrument, Polymarket has no client ids",
    ("trading/orders.py", "order_apply_state", 'unread = "" → unread = None'):
        'it is only read as "if unread", where None and "" are both false',
    ("trading/orders.py", "order_apply_state",
     "if state.filled_quantity > order.filled_quantity: → if state.filled_quantity >= order.filled_quantity:"):
        "with nothing newly filled, the fills read again are recorded already (a fill id is recorded once) and "
        "Alpaca's new part is 0: one more request, the same ledger",
    ("trading/orders.py", "order_apply_state",
     "fills = client.get_fills(state.venue_order_id) → fills = client.get_fills(None)"):
        "only fills of this venue order id are recorded below: reading the whole account's records the same ones",
    ("trading/orders.py", "order_apply_state",
     "if venue_status in (S.REJECTED, S.UNRESOLVED) and state.filled_quantity == 0: → "
     "if venue_status in (S.REJECTED, S.UNRESOLVED) or state.filled_quantity == 0:"):
        "any other status with nothing filled makes the move the branches below make (open: submitted, "
        "canceled: cancelled)",
    ("trading/orders.py", "order_apply_state",
     'return order_transition(order, venue_status, reason="rejected by the venue") → '
     "return order_transition(order, venue_status, reason=None)"):
        'order_transition gives a rejection with no reason that same reason, "rejected by the venue"',
    ("trading/orders.py", "order_apply_state",
     'return order_transition(order, venue_status, reason="rejected by the venue") → '
     "return order_transition(order, venue_status, )"):
        'order_transition gives a rejection with no reason that same reason, "rejected by the venue"',
    ("trading/orders.py", "order_submit_live",
     'order.save(update_fields=["signed_order", "venue_order_id", "updated_at"]) → order.save(update_fields=None)'):
        "saving every field writes the values just read: the order was created by this cycle a moment ago and "
        "nothing else writes it before it is sent",
    ("trading/orders.py", "submit",
     'order.save(update_fields=["reject_reason", "updated_at"]) → order.save(update_fields=None)'):
        "saving every field writes the values just read: the order was created by this cycle a moment ago and "
        "nothing else writes it while it is being sent",
    ("trading/orders.py", "position_apply",
     ".filter(strategy_id=order.strategy_id, book=order.book, venue=order.venue, market_id=order.market_id, → "
     ".filter(strategy_id=order.strategy_id, book=order.book, market_id=order.market_id,"):
        "a strategy trades on its one platform, so its positions never differ by venue alone",
    ("trading/orders.py", "order_request_for",
     'instrument_id=order.market_id, side="buy" if order.action == OrderAction.OPEN else "sell", → '
     'instrument_id=order.market_id, side="buy" if order.action == OrderAction.OPEN else "XXsellXX",'):
        'every adapter reads the side only as == "buy" (else it sells)',
    ("trading/orders.py", "order_request_for",
     'instrument_id=order.market_id, side="buy" if order.action == OrderAction.OPEN else "sell", → '
     'instrument_id=order.market_id, side="buy" if order.action == OrderAction.OPEN else "SELL",'):
        'every adapter reads the side only as == "buy" (else it sells)',
    ("trading/orders.py", "order_request_for",
     'time_in_force="day" if order.venue == "alpaca" else "ioc", outcome="no" if order.side == "no" else "yes", → '
     'time_in_force="day" if order.venue == "alpaca" else "ioc", outcome="XXnoXX" if order.side == "no" else "yes",'):
        'Kalshi reads the outcome only as == "yes" (else no); Polymarket and Alpaca do not read it',
    ("trading/orders.py", "order_request_for",
     'time_in_force="day" if order.venue == "alpaca" else "ioc", outcome="no" if order.side == "no" else "yes", → '
     'time_in_force="day" if order.venue == "alpaca" else "ioc", outcome="NO" if order.side == "no" else "yes",'):
        'Kalshi reads the outcome only as == "yes" (else no); Polymarket and Alpaca do not read it',
    ("trading/orders.py", "order_transition",
     'order.reject_reason = reason or "rejected by the venue" → '
     'order.reject_reason = reason or "XXrejected by the venueXX"'):
        "the default is never reached: every rejection passes its own non-empty reason",
    ("trading/orders.py", "order_transition",
     'order.reject_reason = reason or "rejected by the venue" → '
     'order.reject_reason = reason or "REJECTED BY THE VENUE"'):
        "the default is never reached: every rejection passes its own non-empty reason",
    ("trading/reconcile.py", "venue_holdings",
     'side = ("yes" if position.quantity > 0 else "no") if venue == "kalshi" else "" → '
     'side = ("yes" if position.quantity >= 0 else "no") if venue == "kalshi" else ""'):
        "a Kalshi position of 0 adds 0 to YES instead of NO: every holding is read with a default of 0",
    ("trading/reconcile.py", "venue_holdings",
     "held[(position.instrument_id, side)] += abs(position.quantity) → "
     "held[(position.instrument_id, side)] = abs(position.quantity)"):
        "a venue reports one position per instrument (Kalshi nets YES and NO of a ticker): nothing to add to",
    ("trading/reconcile.py", "exits_working",
     "exits = Order.objects.filter(strategy_id=position.strategy_id, book=position.book, venue=position.venue, → "
     "market_id=position.market_id, side=position.side, action=OrderAction.CLOSE, → "
     "exits = Order.objects.filter(strategy_id=position.strategy_id, book=position.book, "
     "market_id=position.market_id, side=position.side, action=OrderAction.CLOSE,"):
        "a strategy trades on its one platform, so its orders never differ by venue alone",
    ("trading/reconcile.py", "exits_working",
     'exits = Order.objects.filter(strategy_id=position.strategy_id, book=position.book, '
     'venue=position.venue, → exits = Order.objects.filter(strategy_id=position.strategy_id, '
     'venue=position.venue,'):
        'paper exits are immediate-or-cancel: none is working or unresolved when the next exit is sized',
    ("trading/reconcile.py", "ledger_holdings",
     'rows = Position.objects.filter(book=Book.LIVE, venue=venue, status=Position.Status.OPEN, → '
     'strategy__owner_id=owner_id).values_list("market_id", "side", "quantity") → rows = '
     'Position.objects.filter(book=Book.LIVE, venue=venue, '
     'strategy__owner_id=owner_id).values_list("market_id", "side", "quantity")'):
        'a closed position holds 0 (the check constraint position_open_or_closed_consistently): it adds nothing',
    ("trading/reconcile.py", "live_reconcile",
     'working = (Order.objects.filter(strategy_id=strategy_id, book=Book.LIVE, status__in=( → working = '
     '(Order.objects.filter(strategy_id=strategy_id, status__in=('):
        'paper orders are immediate-or-cancel, ended in their cycle or by recovery (whose runs are excluded '
        'here): none is working',
    ("trading/reconcile.py", "positions_compare",
     '.exclude(action=OrderAction.SETTLE).values_list("market_id", "side").distinct()) → '
     '.exclude(action=None).values_list("market_id", "side").distinct())'):
        "a settle order closes a position its strategy's own open order opened: its market and side are traded already",
    ("trading/reconcile.py", "positions_compare",
     'traded = set(Order.objects.filter(strategy_id=strategy_id, book=Book.LIVE, venue=venue) → traded = '
     'set(Order.objects.filter(strategy_id=strategy_id, book=Book.LIVE, )'):
        'a strategy trades on its one platform, so its orders never differ by venue alone',
    ("trading/reconcile.py", "positions_compare",
     'more_or_less = "more" if venue_has > ledger_has else "less" → more_or_less = "more" if venue_has >= '
     'ledger_has else "less"'):
        'equal holdings `continue` on the line above: venue_has == ledger_has never reaches this one',
}

KILLED = {1, 3, 36, -24, 24, 152, 255}  # a failing test, a pytest error, or a timeout (mutmut's exit codes)


def work_dir(module: Module) -> Path:
    folder = WORK / module.name
    folder.mkdir(parents=True, exist_ok=True)
    for name in PROJECT:
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    tests = [t for t in module.tests if (ROOT / t).exists()]
    lines = ["[mutmut]", "source_paths = trading/", f"only_mutate = {module.path}",
             "also_copy =", *(f"    {name}" for name in PROJECT if name not in {"trading", "tests"}),
             "pytest_add_cli_args_test_selection =", *(f"    {t}" for t in tests),
             # pytest's unraisable-exception plugin runs gc.collect() five times at every session's end (~0.7 s
             # with Django loaded): mutmut starts a session per mutant.
             "pytest_add_cli_args =", "    -p", "    no:cacheprovider", "    -p", "    no:unraisableexception",
             *(["    --reuse-db"] if module.database else []), ""]
    (folder / "setup.cfg").write_text("\n".join(lines))
    return folder


def mutation_env() -> dict[str, str]:
    env = dict(os.environ)
    url = env.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        env["DATABASE_URL"] = url + "_mutation"
    return env


def mutant_diff(folder: Path, name: str, env: dict[str, str]) -> str:
    shown = subprocess.run([str(MUTMUT), "show", name], cwd=folder, env=env, capture_output=True, text=True,
                           check=False).stdout
    changed = [line[1:].strip() for line in shown.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return " → ".join(changed)


def survivors_of(module: Module) -> list[str]:
    meta_path = WORK / module.name / "mutants" / (module.path + ".meta")
    if not meta_path.exists():
        return []
    codes: dict[str, int | None] = json.loads(meta_path.read_text())["exit_code_by_key"]
    return [name for name, code in codes.items() if code is not None and code not in KILLED]


def run(module: Module, *, fresh: bool, only: list[str] | None = None) -> dict[str, object]:
    folder = work_dir(module)
    if fresh:
        shutil.rmtree(folder / "mutants", ignore_errors=True)
    elif (folder / "mutants").exists():  # mutmut copies trading/ once: bring the modules it does not mutate up to date
        for source in (ROOT / "trading").rglob("*.py"):
            relative = source.relative_to(ROOT)
            if str(relative) != module.path:
                (folder / "mutants" / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, folder / "mutants" / relative)
    workers = "1" if module.database else "2"
    started = time.monotonic()
    log = folder / "mutmut.log"
    with log.open("w") as out:
        done = subprocess.run([str(MUTMUT), "run", "--max-children", workers, *(only or [])], cwd=folder,
                              env=mutation_env(), stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        print(f"{module.path}: mutmut failed (exit {done.returncode}); see {log.relative_to(ROOT)}")
        return {"module": module.path, "error": done.returncode}
    return report(module, seconds=time.monotonic() - started)


def report(module: Module, *, seconds: float | None = None) -> dict[str, object]:
    """The last run's results, printed and kept in var/mutation/<module>/report.txt."""
    folder = WORK / module.name
    env = mutation_env()
    meta_path = folder / "mutants" / (module.path + ".meta")
    if not meta_path.exists():
        print(f"{module.path}: no results yet")
        return {"module": module.path, "error": "no results"}
    meta = json.loads(meta_path.read_text())
    codes: dict[str, int | None] = meta["exit_code_by_key"]
    killed = [n for n, c in codes.items() if c in KILLED]
    unchecked = [n for n, c in codes.items() if c is None]  # a run stopped before reaching them
    survivors = sorted((n for n, c in codes.items() if c is not None and c not in KILLED), key=mutant_order)
    equivalent: list[tuple[str, int | None, str, str | None]] = []
    survived: list[tuple[str, int | None, str, str | None]] = []
    for name in survivors:
        diff = mutant_diff(folder, name, env)
        function = name.split(".")[-1].split("__mutmut_")[0][1:].lstrip("_ǁ").replace("ǁ", ".")
        reason = EQUIVALENT.get((module.path, function, diff))
        (equivalent if reason else survived).append((name, codes[name], diff, reason))
    total = len(codes)
    tried = total - len(unchecked)
    score = 100.0 * len(killed) / max(1, tried - len(equivalent))
    took = "" if seconds is None else f" ({seconds:.0f} s)"
    partial = f", {len(unchecked)} not run (the run was stopped)" if unchecked else ""
    lines = [f"{module.path}: {total} mutants, {len(killed)} killed, {len(survived)} survived, "
             f"{len(equivalent)} equivalent{partial}: score {score:.1f} %{took}"]
    lines += [f"  equivalent {name}: {diff}\n      {reason}" for name, _, diff, reason in equivalent]
    for name, code, diff, _ in survived:
        status = "no test reaches it" if code in (5, 33) else f"survived (exit {code})"
        lines.append(f"  {status} {name}: {diff}")
    (folder / "report.txt").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    return {"module": module.path, "total": total, "killed": len(killed), "survived": len(survived),
            "equivalent": len(equivalent), "not_run": len(unchecked), "score": round(score, 1)}


def mutant_order(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="e.g. trading/fees.py (default: every money module)")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's results of unchanged functions")
    parser.add_argument("--report", action="store_true", help="only print the last run's results")
    parser.add_argument("--survivors", action="store_true",
                        help="run again only the mutants that survived last time (after adding tests)")
    parser.add_argument("--function", metavar="NAME",
                        help="run only this function's mutants (after changing it); the others count as not run")
    args = parser.parse_args()
    chosen = [m for m in MODULES if not args.modules or m.path in args.modules or m.name in args.modules]
    if not chosen:
        parser.error(f"modules are {', '.join(m.path for m in MODULES)}")
    if args.report:
        results = [report(m) for m in chosen]
    elif args.survivors:
        results = [run(m, fresh=False, only=names) if (names := survivors_of(m)) else report(m) for m in chosen]
    elif args.function:
        results = [run(m, fresh=False, only=[f"trading.{m.name}.x_{args.function}__mutmut_*"]) for m in chosen]
    else:
        results = [run(m, fresh=not args.keep) for m in chosen]
    print("\nmodule                  total  killed  survived  equivalent  not run  score")
    for r in results:
        if "error" in r:
            print(f"{r['module']:<22}  mutmut failed")
        else:
            print(f"{r['module']:<22} {r['total']:>6} {r['killed']:>7} {r['survived']:>9} {r['equivalent']:>11}"
                  f" {r['not_run']:>8}  {r['score']:>5} %")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
