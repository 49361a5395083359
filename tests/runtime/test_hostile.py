"""Every hostile strategy of the shared folder, judged the way its README says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runtime import Sandbox
from runtime.sandbox import KILL_GRACE, REPO_ROOT
from tests.runtime.conftest import BENIGN, FAST_LIMITS, Canaries, Listener, no_op_on_call, run_is_gone

HOSTILE = Path(__file__).parent / "hostile"
ATTACKS = sorted(path.name for path in HOSTILE.iterdir() if path.is_dir())
# What a contained attack ends as; "succeeded" means the attack ran, failed, and said so in RESULT.
EXPECTED_STATUS = {
    "12_segfault": {"failed"},
    "14_memory_bomb": {"succeeded", "failed"},
    "15_cpu_loop": {"timed_out"},
    "16_sleep_forever": {"timed_out"},
    "17_output_flood": {"failed"},
    "36_hold_hostage": {"timed_out"},
}


def hostile_files(name: str, marker: Path, listeners: dict[str, Listener]) -> dict[str, str]:
    folder = HOSTILE / name
    files = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
    config = files["config.json"]
    for placeholder, value in {
        "__PROJECT_DIR__": str(REPO_ROOT),
        "__PORT__": str(listeners["tcp"].sock.getsockname()[1]),
        "__MARKER_DIR__": str(marker),
        "__UNIX_SOCKET__": str(listeners["unix"].address),
        "__ABSTRACT__": str(listeners["abstract"].address).lstrip("\0"),
    }.items():
        config = config.replace(placeholder, value)
    files["config.json"] = config
    return files


def test_the_corpus_is_all_here() -> None:
    assert len(ATTACKS) == 25  # the shared corpus (16), our six backtest attacks and three on warm sessions


@pytest.mark.parametrize("attack", ATTACKS)
def test_it_contains_the_hostile_strategy(
    attack: str, sandbox: Sandbox, canaries: Canaries, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    files = hostile_files(attack, marker, listeners)

    outcome = sandbox.run_cycle(
        files, {"strategy_id": attack, "mode": "paper", "state": {}}, no_op_on_call, FAST_LIMITS
    )

    recorded = json.dumps(outcome.as_dict())
    for canary in canaries.values():
        assert canary not in recorded, f"{attack} leaked a canary"
    results = [line.message for line in outcome.logs if line.message.startswith("RESULT ")]
    assert all("PWNED:" not in line for line in results), results
    assert {name: listener.connections for name, listener in listeners.items()} == {"tcp": 0, "unix": 0, "abstract": 0}
    assert list(marker.iterdir()) == []
    assert outcome.duration_ms <= (FAST_LIMITS.wall_seconds + KILL_GRACE + 1) * 1000
    assert outcome.status in EXPECTED_STATUS.get(attack, {"succeeded"}), (outcome.status, outcome.error)
    if outcome.status == "succeeded":
        assert results, "the attack should have reported its RESULT"
        assert outcome.entries == [] and outcome.state == {}
    assert run_is_gone(sandbox, outcome.run_pid), "a process of the run is still alive"

    benign = sandbox.run_cycle(BENIGN, {"strategy_id": "benign"}, no_op_on_call, FAST_LIMITS)
    assert benign.status == "succeeded", benign.error
    assert [line.message for line in benign.logs] == ["benign"]


# --- the backtest attacks, as backtests: one sandboxed run for the whole history ---------------------


def _backtest(files: dict[str, str], params: dict[str, Any], *, end: float) -> Any:
    from strategies.backtests import BacktestData, backtest_execute_files

    config = json.loads(files["config.json"])
    config["parameters"] = params
    files = {**files, "config.json": json.dumps(config)}
    return backtest_execute_files(
        files, config, BacktestData("polymarket_recorded", {"set": "books"}), start=None,
        end=datetime.fromtimestamp(end, UTC), cash=None, commission=None, strategy_id="hostile", lookahead=False)


def _first_and_later_markets() -> tuple[Any, list[Any]]:
    from trading.backtest.data import recorded_polymarket

    markets = sorted(recorded_polymarket("books").markets.values(), key=lambda m: m.opens_at)
    return markets[0], markets[1:]


def test_a_backtest_never_answers_with_data_after_ctx_now(settings, tmp_path: Path,
                                                          listeners: dict[str, Listener]) -> None:
    first, later = _first_and_later_markets()
    future = [m for m in later if m.opens_at > first.resolves_at][:3]  # no book of theirs exists during the run
    files = hostile_files("28_backtest_read_ahead", tmp_path, listeners)
    params = {"tokens": list(first.token_ids), "future_tokens": [t for m in future for t in m.token_ids],
              "future_markets": [m.condition_id for m in future]}

    run = _backtest(files, params, end=first.resolves_at)

    assert run.result.status == "succeeded", run.result.error
    results = [line["message"] for line in run.result.logs if line["message"].startswith("RESULT ")]
    assert len(results) == run.result.steps > 5
    assert all("PWNED:" not in line for line in results), [line for line in results if "PWNED" in line]
    seen = [json.loads(line.removeprefix("RESULT ")) for line in results]
    assert all(s["latest_seen"] is not None and s["latest_seen"] <= s["now"] for s in seen)  # it did read data
    assert run.result.final_state == {"checked": run.result.steps}


@pytest.mark.django_db
def test_a_copy_trader_backtest_never_answers_a_trade_made_after_ctx_now(
        settings, tmp_path: Path, listeners: dict[str, Listener], venues_on_simulator: Any) -> None:
    from strategies.backtests import backtest_execute_files, default_data
    from trading.simulator.polymarket import LEADER_WALLET

    files = hostile_files("33_backtest_future_trades", tmp_path, listeners)
    config = json.loads(files["config.json"])
    config["parameters"] = {"wallet": LEADER_WALLET, "tracked_traders": [LEADER_WALLET]}  # the data: its trades
    files = {**files, "config.json": json.dumps(config)}

    run = backtest_execute_files(files, config, default_data(config, None), start=None, end=None, cash=None,
                                 commission=None, strategy_id="hostile", lookahead=True)

    assert run.result.status == "succeeded", run.result.error
    results = [line["message"] for line in run.result.logs if line["message"].startswith("RESULT ")]
    assert len(results) == run.result.steps > 100
    assert all("PWNED:" not in line for line in results), [line for line in results if "PWNED" in line][:3]
    seen = [json.loads(line.removeprefix("RESULT ")) for line in results]
    assert all(s["latest_seen"] is None or s["latest_seen"] <= s["now"] for s in seen)
    assert sum(s["trades"] for s in seen) > 1000  # it did read trades, each time up to now
    assert all(s["refused"] == 2 for s in seen)  # the two bad limits, as live refuses them; time arguments ignored
    assert run.lookahead["checked"] > 0 and run.lookahead["flagged"] == []  # the signals it gave repeat with data cut


def test_a_backtest_script_cannot_alter_its_trades_fills_or_pnl(settings, tmp_path: Path,
                                                                listeners: dict[str, Listener]) -> None:
    from decimal import Decimal

    from trading.fees import order_fee

    first, _ = _first_and_later_markets()
    files = hostile_files("29_backtest_alter_results", tmp_path, listeners)
    token = first.token_ids[0]

    run = _backtest(files, {"token": token}, end=first.resolves_at + 60)

    result = run.result
    assert result.status == "succeeded", result.error
    assert all("PWNED:" not in line["message"] for line in result.logs)
    assert [t["market_id"] for t in result.trades] == [token]  # one real position, settled at resolution
    trade = result.trades[0]
    payout = Decimal(1) if first.winner == 0 else Decimal(0)
    assert (trade["exit_kind"], Decimal(trade["exit_price"])) == ("settle", payout)
    fill = next(a for a in result.actions if a["kind"] == "order_filled")
    levels = [(Decimal(q), Decimal(p)) for q, p in fill["fills"]]
    fee = order_fee("polymarket", side="buy", fills=levels, polymarket_rate=first.fee_rate)
    cost = sum(q * p for q, p in levels) + fee
    assert Decimal(fill["fee"]) == fee > 0 and cost <= Decimal(10)  # sized by the worker: size_usd 10, not 1e9
    assert Decimal(trade["quantity"]) == sum(q for q, _ in levels)
    assert Decimal(trade["pnl"]) == (Decimal(trade["quantity"]) * payout - cost).quantize(Decimal("0.000001"))
    assert result.equity[-1][1] == Decimal(1000) + Decimal(trade["pnl"])
    refused = [a for a in result.actions if a["kind"] == "order_refused"]
    assert {a["check"] for a in refused} == {"signal", "position"}
    assert len(refused) == 3 * result.steps
    assert result.final_state["trades"] == [{"market_id": "FORGED", "pnl": 1e9}]  # just the script's own state


def test_forged_frames_on_the_channel_stop_the_backtest_without_a_forged_trade(settings, tmp_path: Path,
                                                                            listeners: dict[str, Listener]) -> None:
    first, _ = _first_and_later_markets()
    files = hostile_files("29_backtest_alter_results", tmp_path, listeners)

    run = _backtest(files, {"token": first.token_ids[0], "raw_frames": True}, end=first.resolves_at + 60)

    assert run.result.status == "failed"
    assert "protocol violation" in (run.result.error or "")
    assert run.result.steps == 3
    assert all(t["market_id"] != "FORGED" for t in run.result.trades)


# --- the attacks on a backtest whose loop runs inside its one sandboxed run (bars: a CSV) -------------------------


def _walk_csv(days: int = 60) -> str:
    """A seeded random walk of daily bars: rising closes that win and rising closes that lose."""
    import random

    walk = random.Random(7)  # noqa: S311 - test data
    rows, level = ["timestamp,open,high,low,close"], 100.0
    for day in range(days):
        level = max(10.0, level + walk.uniform(-3, 3))
        rows.append(f"{1704067200 + day * 86400},{level:.2f},{level + 1:.2f},{level - 1:.2f},{level + 0.5:.2f}")
    return "\n".join(rows) + "\n"


def _csv_backtest(files: dict[str, str]) -> Any:
    from strategies.backtests import backtest_execute_files, csv_store

    config = json.loads(files["config.json"])
    data = csv_store(_walk_csv(), symbol="TEST", filename="walk.csv")
    return backtest_execute_files(files, config, data, start=None, end=None, cash=None, commission=None,
                                  strategy_id="hostile")


def _honest(files: dict[str, str]) -> dict[str, str]:
    """The same strategy without its attack: the figures a tampered run must end up with."""
    entry = files["entry.py"].replace("found = engines()", "found = []").replace(
        "forged = forge() if", "forged = False if")
    return {**files, "entry.py": entry}


@pytest.mark.django_db
@pytest.mark.parametrize("attack", ["30_backtest_tamper_engine", "31_backtest_own_metrics"])
def test_a_run_that_rewrites_its_own_results_fails_as_tampered_and_keeps_the_replay_s_figures(
        attack: str, settings, tmp_path: Path, listeners: dict[str, Listener]) -> None:
    files = hostile_files(attack, tmp_path, listeners)

    run = _csv_backtest(files)
    honest = _csv_backtest(_honest(files))

    assert honest.result.status == "succeeded", honest.result.error
    assert len(honest.result.trades) >= 3  # the strategy does trade: there was something to forge
    assert run.result.status == "failed"
    assert (run.result.error or "").startswith("tampered: "), run.result.error
    results = [json.loads(line["message"].removeprefix("RESULT ")) for line in run.result.logs
               if line["message"].startswith("RESULT ")]
    assert results and any(r.get("engines_found") or r.get("forged") for r in results)  # the attack was real
    assert all(t["market_id"] != "FORGED" for t in run.result.trades)
    assert run.result.trades == honest.result.trades  # the replay's, to the cent: nothing forged got through
    assert run.result.equity == honest.result.equity
    assert run.metrics["return_pct"] == honest.metrics["return_pct"]


@pytest.mark.django_db
def test_a_run_that_reads_ahead_only_to_skip_losing_trades_fails_the_check_naming_the_step(
        settings, tmp_path: Path, listeners: dict[str, Listener]) -> None:
    files = hostile_files("32_backtest_skip_losers", tmp_path, listeners)

    run = _csv_backtest(files)

    skipped = [json.loads(line["message"].removeprefix("RESULT "))["skipped"] for line in run.result.logs
               if line["message"].startswith("RESULT ")]
    assert skipped, "the attack never found a loser to skip"
    assert run.result.status == "failed"
    assert run.lookahead["biased"] is True
    flagged = run.lookahead["flagged"][0]
    assert "entries" in flagged["changed"] and flagged["ran"]["entries"] == [] and flagged["sealed"]["entries"]
    assert flagged["time"].removesuffix("Z") == skipped[0].removesuffix("+00:00")  # the first loser it skipped
    assert "alpaca.get_bars(" in flagged["reads"]
    assert f"look-ahead check: step {flagged['step']} ({flagged['time']})" in (run.result.error or "")
