"""Backtests on the venues' own history (Polymarket prices-history, Kalshi candlesticks) through the adapters,
against the simulator: fills at the next point, fees per fill, settlement at 1/0, nothing past ctx.now, and the
database cache (a re-run with the simulator stopped gives the same result; a missing range alone is fetched)."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from strategies.services import strategy_deploy
from tests.api.conftest import error
from trading.fees import kalshi_fee, polymarket_fee
from trading.models import VenueHistoryPoint, VenueHistoryRange

pytestmark = pytest.mark.django_db

# Reads every step with ranges far into the future; any point after ctx.now fails the step (and the backtest).
POLYMARKET_ENTRY = '''
from strategies.sdk import EntrySignal, VenueError


def should_enter(ctx):
    now = ctx.now.timestamp()
    market = ctx.polymarket.get_market(ctx.params["markets"][0])
    token = market["tokens"][1]["token_id"]  # the outcome that won
    seen = []
    for asked in ({"start_ts": 0, "end_ts": 4102444800, "fidelity": 1}, {"start_ts": now, "end_ts": now + 86400}):
        history = ctx.polymarket.get_prices_history(market=token, **asked)["history"]
        seen += [point["t"] for point in history]
    try:
        book = ctx.polymarket.get_order_book(token)
    except VenueError:  # this outcome has no point yet
        return []
    if any(t > now for t in seen) or book["timestamp"] > ctx.now.isoformat().replace("+00:00", "Z"):
        raise RuntimeError(f"read ahead: {max(seen)} > {now}")
    ctx.state["points_seen"] = max(ctx.state.get("points_seen", 0), len(seen))
    ctx.log(f"points {len(seen)}")
    if ctx.state.get("entered"):
        return []
    ctx.state["entered"] = True
    return [EntrySignal(market_id=token, side="yes", reason="the winner", size_usd=10)]
'''

KALSHI_ENTRY = '''
from strategies.sdk import EntrySignal


def should_enter(ctx):
    now = ctx.now.timestamp()
    ticker = ctx.params["ticker"]
    candles = ctx.kalshi.get_candlesticks(ticker=ticker, start_ts=0, end_ts=4102444800, period_interval=60)
    ahead = [c["t"] for c in candles["candlesticks"] if c["t"] > ctx.now.isoformat().replace("+00:00", "Z")]
    book = ctx.kalshi.get_orderbook(ticker)
    market = ctx.kalshi.get_market(ticker)
    resolved = now >= ctx.params["settled_at"]  # the market reads finalized from then on, never before
    if ahead or book["timestamp"] > ctx.now.isoformat() or (market["status"] == "finalized") != resolved:
        raise RuntimeError(f"read ahead: {ahead[:1]} {book['timestamp']} {market['status']} at {now}")
    ctx.log(f"candles {len(candles['candlesticks'])}")
    if ctx.state.get("entered"):
        return []
    ctx.state["entered"] = True
    return [EntrySignal(market_id=ticker, side="no", reason="no wins", size_usd=10)]
'''

EXIT = "def should_exit(ctx, position):\n    return None\n"


def config(platform: str, parameters: dict[str, Any]) -> str:
    return json.dumps({
        "name": f"{platform} history", "thesis": "The outcome we buy wins.", "platform": platform,
        "polling_interval": 60, "parameters": parameters,
        "capital": {"total_capital": 1000, "capital_per_trade": 10, "max_positions": 2, "max_position_size": 100,
                    "max_daily_loss": 500, "sizing_method": "fixed"},
        "risk_limits": {"max_order_usd": 100, "max_daily_usd": 500, "allowed_services": [platform]},
    })


def resolved_book_market(simulator: Any) -> Any:
    """A recorded BTC 15-minute market the frozen replay has seen resolve."""
    market = next(m for m in simulator.polymarket.data.markets if m.books and simulator.polymarket.is_closed(m))
    assert market.winner == 1  # the test buys the second outcome: it must have won
    return market


def polymarket_folder(tmp_path: Path, condition_id: str) -> Path:
    folder = tmp_path / "poly_history"
    folder.mkdir()
    (folder / "entry.py").write_text(POLYMARKET_ENTRY)
    (folder / "exit.py").write_text(EXIT)
    (folder / "config.json").write_text(config("polymarket", {"markets": [condition_id]}))
    return folder


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("strategy_backtest", *args, "--json", stdout=out, stderr=StringIO())
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def window() -> tuple[str, str]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    return (end - timedelta(hours=3)).isoformat(), end.isoformat()


@pytest.fixture
def quiet(settings: Any) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False


def test_prices_history_fills_at_the_next_point_plus_the_half_spread_and_settles_at_1(
        venues_on_simulator: Any, tmp_path: Path, quiet: None) -> None:
    market = resolved_book_market(venues_on_simulator)
    start, end = window()
    shaped = run(str(polymarket_folder(tmp_path, market.condition_id)), "--source", "polymarket_history",
                 "--interval", "1", "--start", start, "--end", end)

    assert shaped["status"] == "succeeded", shaped["error"]
    token = market.token_ids[1]
    points = list(VenueHistoryPoint.objects.filter(venue="polymarket", series=token, resolution="1m").order_by("at"))
    assert len(points) > 5
    steps = [datetime.fromisoformat(moment.replace("Z", "+00:00")) for moment, _ in shaped["equity"]]
    signal = next(step for step in steps if step >= points[0].at)  # the first step that saw this outcome
    fill = next(p for p in points if p.at > signal)  # the first point after the signal
    [trade] = shaped["trades"]
    price = Decimal(fill.data["p"]) + Decimal("0.01")
    quantity = Decimal(trade["quantity"])
    fee = polymarket_fee(quantity, price, rate=Decimal("0.07"))  # crypto's taker rate, on the one fill
    assert (trade["market_id"], Decimal(trade["entry_price"]), Decimal(trade["exit_price"])) == (token, price, Decimal(1))
    assert trade["entry_time"] == fill.at.isoformat().replace("+00:00", "Z")
    assert trade["exit_time"] == points[-1].at.isoformat().replace("+00:00", "Z")  # settled at its last point
    assert Decimal(trade["fees"]) == fee > 0  # the settlement itself is fee-free
    assert Decimal(trade["pnl"]) == (quantity * (1 - price) - fee).quantize(Decimal("0.000001"))
    assert shaped["open_positions"] == []


def test_a_range_cut_before_the_resolution_does_not_settle(venues_on_simulator: Any, tmp_path: Path,
                                                          quiet: None) -> None:
    """Cut inside a gap of the data longer than a period (a minute without a two-sided book): the data stops more
    than a period before the range does, yet the market traded on, so the run must not see it resolve. Before the
    data after the range was read, this settled the position at the gap's start whenever the range ended there."""
    market = resolved_book_market(venues_on_simulator)
    folder = polymarket_folder(tmp_path, market.condition_id)
    start, _ = window()
    whole = run(str(folder), "--source", "polymarket_history", "--interval", "1", "--start", start)
    moments = sorted(set(VenueHistoryPoint.objects.filter(venue="polymarket", series__in=market.token_ids)
                         .values_list("at", flat=True)))
    gaps = [(a, b) for a, b in itertools.pairwise(moments) if (b - a).total_seconds() >= 65]
    assert whole["trades"] and gaps, "the recording has a gap longer than a minute after the entry"
    before, after = gaps[-1]
    end = after - timedelta(seconds=2)  # more than a period after the last point before it, before the next

    shaped = run(str(folder), "--source", "polymarket_history", "--interval", "1", "--start", start,
                 "--end", end.isoformat())

    assert shaped["status"] == "succeeded", shaped["error"]
    assert shaped["trades"] == [] and len(shaped["open_positions"]) == 1
    assert (end - before).total_seconds() > 60


def test_a_rerun_with_the_simulator_stopped_reads_the_cache_and_gives_the_same_backtest(
        own_simulator: Any, tmp_path: Path, quiet: None) -> None:
    simulator, running = own_simulator
    market = resolved_book_market(simulator)
    folder = polymarket_folder(tmp_path, market.condition_id)
    start, end = window()
    args = (str(folder), "--source", "polymarket_history", "--interval", "1", "--start", start, "--end", end)
    first = run(*args)
    cached = VenueHistoryPoint.objects.count()

    simulator.stop()
    running[0] = False
    with pytest.raises(httpx.HTTPError):
        httpx.get(simulator.url + "/_sim/health", timeout=1)
    again = run(*args)

    assert first["status"] == again["status"] == "succeeded"
    assert again["trades"] == first["trades"] and len(first["trades"]) == 1
    assert again["equity"] == first["equity"]
    assert VenueHistoryPoint.objects.count() == cached


def test_a_cached_range_is_reused_and_only_the_missing_part_fetched(venues_on_simulator: Any, tmp_path: Path,
                                                                   quiet: None, monkeypatch: Any) -> None:
    from trading.backtest import history

    monkeypatch.setattr(history, "RESOLUTION_LOOK_PAST", timedelta(minutes=10))  # what a resolved market's run reads on
    market = resolved_book_market(venues_on_simulator)
    folder = polymarket_folder(tmp_path, market.condition_id)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    middle, start = end - timedelta(minutes=45), end - timedelta(hours=3)  # the market traded 61 to 33 min ago
    run(str(folder), "--source", "polymarket_history", "--interval", "1", "--start", start.isoformat(),
        "--end", middle.isoformat())
    run(str(folder), "--source", "polymarket_history", "--interval", "1", "--start", start.isoformat(),
        "--end", end.isoformat())

    ranges = VenueHistoryRange.objects.filter(series=market.token_ids[1]).order_by("start")
    looked = middle + timedelta(minutes=10)  # the first run read past its range: did the market trade on?
    assert [(r.start, r.end) for r in ranges] == [(start, middle), (middle, looked), (looked, end)]


def test_kalshi_candles_through_the_api_fill_at_the_next_candle_s_ask_and_settle(
        api: Any, alice: Any, venues_on_simulator: Any, quiet: None,
        django_capture_on_commit_callbacks: Any) -> None:
    from strategyhub.celery import app

    ticker = sorted(venues_on_simulator.kalshi.markets)[1]
    settled = (int(time.time()) // 3600 - 3) * 3600  # three hours ago: its candles stop there
    httpx.post(venues_on_simulator.url + "/_sim/kalshi/settle",
               json={"ticker": ticker, "result": "no", "at": settled}).raise_for_status()
    files = {"entry.py": KALSHI_ENTRY, "exit.py": EXIT,
             "config.json": config("kalshi", {"ticker": ticker, "settled_at": settled})}
    strategy = strategy_deploy(owner=alice, files=files).strategy
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {
                "data_source": "kalshi_candles", "interval": 60,
                "start": datetime.fromtimestamp(settled - 12 * 3600, UTC).isoformat()})
    finally:
        app.conf.task_always_eager = eager
    assert response.status_code == 202, response.content
    body = api.get(f"/api/v1/backtests/{response.json()['backtest_id']}/").json()

    assert body["status"] == "succeeded", body["error"]
    assert body["data_source"] == "kalshi_candles"
    candles = list(VenueHistoryPoint.objects.filter(venue="kalshi", series=ticker, resolution="60m").order_by("at"))
    assert candles[-1].at.timestamp() == settled
    [trade] = body["trades"]
    fill = candles[1]  # signalled at the first candle's end, filled at the next one's
    price = 1 - Decimal(fill.data["bid"])  # a NO ask is 1 - the YES bid
    quantity = Decimal(trade["quantity"])
    assert (trade["side"], Decimal(trade["entry_price"]), Decimal(trade["exit_price"])) == ("no", price, Decimal(1))
    assert trade["entry_time"] == fill.at.isoformat().replace("+00:00", "Z")
    assert Decimal(trade["fees"]) == kalshi_fee(quantity, price) > 0
    assert Decimal(trade["pnl"]) == (quantity * (1 - price) - kalshi_fee(quantity, price)).quantize(
        Decimal("0.000001"))


def test_an_unknown_source_or_a_source_of_another_venue_is_refused_naming_the_field(
        api: Any, alice: Any, venues_on_simulator: Any) -> None:
    files = {"entry.py": KALSHI_ENTRY, "exit.py": EXIT, "config.json": config("kalshi", {"ticker": "X"})}
    strategy = strategy_deploy(owner=alice, files=files).strategy

    wrong = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {"data_source": "polymarket_history"})
    unknown = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {"data_source": "kalshi_trades"})

    assert wrong.status_code == unknown.status_code == 400
    assert error(wrong)["message"] == "data_source polymarket_history is polymarket data; this strategy trades on kalshi"
    assert error(wrong)["issues"][0]["path"] == "data_source"
    assert error(unknown)["issues"][0]["path"] == "data_source"
