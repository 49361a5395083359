"""The seed's copy trader, as strategies/examples ships it, backtested on its wallet's recorded trades: the
simulator serves a real bot's trades (trading/simulator/data/polymarket_bot_trades.csv) as the leader wallet's
older history and the prices of the markets they touched; the backtest reads both through the adapter, caches
them in the database, copies the wallet's buys as they happen and fills at the recorded prices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from trading.models import VenueHistoryPoint, VenueWalletTrade
from trading.simulator.polymarket import LEADER_WALLET

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "strategies" / "examples" / "polymarket_copy_trader"
ONE = Decimal(1)


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("strategy_backtest", *args, "--json", stdout=out, stderr=StringIO())
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wallet_trades(wallet: str = LEADER_WALLET) -> list[dict[str, Any]]:
    """What the backtest read of the wallet, through the adapter into the cache, oldest first."""
    return [row.data for row in VenueWalletTrade.objects.filter(wallet=wallet).order_by("at", "trade_id")]


def recorded_price(trades: list[dict[str, Any]], token: str, condition: str, at: datetime) -> Decimal:
    """The token's price at `at` from the wallet's own trades: its last trade on the market by then (a trade of the
    market's other outcome at one minus its price)."""
    last = [t for t in trades if t["conditionId"] == condition and t["timestamp"] <= at.timestamp()][-1]
    return Decimal(last["price"]) if last["asset"] == token else ONE - Decimal(last["price"])


def assert_it_copied_the_wallet(shaped_trades: list[dict[str, Any]], trades: list[dict[str, Any]]) -> None:
    """Every trade of the backtest follows a buy of the wallet on its token (seen at the first step at or after it,
    filled at the first price after that: prices-history's points are at most an hour apart), and fills in and out
    at the prices the wallet traded at."""
    assert len(shaped_trades) >= 5, shaped_trades
    condition_of = {t["asset"]: t["conditionId"] for t in trades}
    sold_with_the_wallet = 0
    for trade in shaped_trades:
        token, entry, exit_ = trade["market_id"], _moment(trade["entry_time"]), _moment(trade["exit_time"])
        buys = [t for t in trades if t["asset"] == token and t["side"] == "BUY" and t["timestamp"] < entry.timestamp()]
        assert buys, f"{token} was never bought by the wallet before {entry}"
        assert entry - datetime.fromtimestamp(buys[-1]["timestamp"], UTC) <= timedelta(hours=2)
        condition = condition_of[token]
        assert Decimal(trade["entry_price"]) == recorded_price(trades, token, condition, entry)
        assert Decimal(trade["exit_price"]) == recorded_price(trades, token, condition, exit_)
        sells = [t for t in trades if t["asset"] == token and t["side"] == "SELL"
                 and entry.timestamp() <= t["timestamp"] < exit_.timestamp()]
        sold_with_the_wallet += bool(sells) and exit_ - datetime.fromtimestamp(sells[0]["timestamp"], UTC) <= \
            timedelta(hours=2)
    assert sold_with_the_wallet >= len(shaped_trades) // 2  # most exits follow the wallet's own sell


def test_the_shipped_copy_trader_backtests_on_the_wallets_recorded_trades_through_the_command(
        venues_on_simulator: Any) -> None:
    shaped = run(str(EXAMPLE))

    assert shaped["status"] == "succeeded", shaped["error"]
    trades = wallet_trades()
    recorded = venues_on_simulator.polymarket.data.bot_trades
    # The wallet's trades the backtest read are the simulator's recorded bot fills of a stretch, all of them.
    assert len(trades) > 20
    lo, hi = trades[0]["timestamp"], trades[-1]["timestamp"]
    assert {(t["asset"], t["side"], t["timestamp"], Decimal(t["price"])) for t in trades} == {
        (r.market.token_ids[r.outcome], r.side, int(r.at), r.price) for r in recorded if lo <= int(r.at) <= hi}
    assert hi < (datetime.now(UTC) - timedelta(days=7)).timestamp()  # a range it traded in, not its synthetic present
    assert_it_copied_the_wallet(shaped["trades"], trades)
    assert shaped["metrics"]["trades"] == len(shaped["trades"])
    assert shaped["lookahead"]["checked"] > 0 and shaped["lookahead"]["flagged"] == []


def test_a_rerun_with_the_venue_down_reads_the_wallet_and_its_prices_from_the_cache(
        own_simulator: Any, settings: Any) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    simulator, running = own_simulator
    first = run(str(EXAMPLE))
    cached = (VenueWalletTrade.objects.count(), VenueHistoryPoint.objects.count())

    simulator.stop()
    running[0] = False
    again = run(str(EXAMPLE))

    assert first["status"] == again["status"] == "succeeded", again["error"]
    assert again["trades"] and again["trades"] == first["trades"] and again["equity"] == first["equity"]
    assert (VenueWalletTrade.objects.count(), VenueHistoryPoint.objects.count()) == cached


READS_OUT_OF_BOUNDS = '''
def should_enter(ctx):
    ctx.polymarket.get_trade_history(maker_address=ctx.params["wallet"], limit=ctx.params["limit"])
    return []
'''


@pytest.mark.parametrize(("wallet", "limit"), [(LEADER_WALLET, 501), (LEADER_WALLET, "ten"), ("0x" + "1" * 40, 5)])
def test_a_read_out_of_bounds_fails_the_backtest_as_live_refuses_it(
        venues_on_simulator: Any, tmp_path: Path, settings: Any, wallet: str, limit: Any) -> None:
    from runtime import VenueCallError
    from strategies.cycle.venue_reads import VenueReads

    settings.BACKTEST_LOOKAHEAD_CHECK = False
    config = json.loads((EXAMPLE / "config.json").read_text())
    config["parameters"] = {"tracked_traders": [LEADER_WALLET], "wallet": wallet, "limit": limit}
    (tmp_path / "entry.py").write_text(READS_OUT_OF_BOUNDS)
    (tmp_path / "exit.py").write_text("def should_exit(ctx, position):\n    return None\n")
    (tmp_path / "config.json").write_text(json.dumps(config))

    with pytest.raises(CommandError) as failed:
        run(str(tmp_path))
    backtest_error = str(failed.value)
    assert backtest_error.startswith("backtest failed: the strategy failed at ")
    if wallet == LEADER_WALLET:  # live's own words for the same call
        reads = VenueReads(platform="polymarket", allowed_services=["polymarket"])
        with pytest.raises(VenueCallError) as live:
            reads.read("polymarket", "get_trade_history", {"maker_address": wallet, "limit": limit})
        reads.close()
        assert str(live.value) in backtest_error
    else:  # a wallet the data does not follow: said so, with the one it does
        assert f"no backtest data of wallet '{wallet}'" in backtest_error and LEADER_WALLET in backtest_error
