"""One definition of a book's P&L, marked to market (`trading.performance`): the performance panel, its equity
curve, the graduation checklist and the API read the same numbers; and the statistics beside the checklist
against known values."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from accounts.services import api_key_issue
from strategies.selectors import strategy_graduation
from strategies.services import strategy_deploy
from tests.conftest import example_files
from tests.strategies.paper_record import paper_trades
from trading.performance import Trade, book_record, calibration, mean_lower_bound, t_quantile, wilson_interval


def api_get(user, path: str):
    key = api_key_issue(user=user, label="reader", scope="read")
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {key}").json()


def kalshi_files(total_capital: int = 2000) -> dict[str, str]:
    files = example_files("kalshi_favourite_longshot")
    config = json.loads(files["config.json"])
    config["capital"]["total_capital"] = total_capital
    files["config.json"] = json.dumps(config)
    return files


@pytest.mark.django_db
def test_performance_graduation_and_the_api_agree_marked_to_market(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=kalshi_files(), approve_by=staff)
    # +10, +7 and −5 closed; one position held open, bought at 0.50 and marked at 0.48: −$20.00 unrealized.
    paper_trades(version, ["10", "7", "-5"], open_marks=("0.48",))
    strategy = version.strategy

    [paper] = api_get(alice, f"/api/v1/strategies/{strategy.pk}/performance/")["books"]
    assert (paper["realized_pnl_usd"], paper["unrealized_pnl_usd"], paper["total_pnl_usd"]) == (
        "12.00", "-20.00", "-8.00")
    assert paper["equity"][-1]["equity_usd"] == paper["equity_usd"] == "1992.00"  # the curve ends at the marks
    assert paper["win_rate"] == "0.5000"  # two wins of three closed and one open loser
    assert paper["max_drawdown"] == f"{Decimal(25) / Decimal(2017):.4f}"  # from the 2017 peak to 1992

    checks = {check.name: check.actual for check in strategy_graduation(strategy).checks}
    assert (checks["paper P&L"], checks["win rate"], checks["max drawdown"]) == ("$-8.00", "50.0%", "1.2%")

    client = Client()
    client.force_login(alice)
    html = client.get(f"/strategies/{strategy.pk}/").content.decode()
    assert re.search(r'Total P&amp;L</dt><dd class="bad"[^>]*>−\$8.00<', html)
    assert "Win rate</dt><dd>50.0 %" in html
    match = re.search(r'<script id="equity-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    chart = json.loads(match[1])
    values = [point["value"] for point in chart["paper"]]
    assert (values[0], max(values), values[-1]) == (2000.0, 2017.0, 1992.0)  # points of one second are merged


@pytest.mark.django_db
def test_no_trade_has_no_win_rate_anywhere(alice, staff) -> None:
    strategy = strategy_deploy(owner=alice, files=kalshi_files(), approve_by=staff).strategy
    [paper] = api_get(alice, f"/api/v1/strategies/{strategy.pk}/performance/")["books"]
    assert paper["win_rate"] is None and paper["equity"] == []
    checks = {check.name: check.actual for check in strategy_graduation(strategy).checks}
    assert checks["win rate"] == "—"


AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def closed(pnl: str, hours: int, price: str | None = None) -> Trade:
    return Trade(opened_at=AT, closed_at=AT + timedelta(hours=hours), realized_usd=Decimal(pnl),
                 entry_price=None if price is None else Decimal(price))


def test_an_open_position_at_a_loss_ends_the_curve_and_counts_as_a_loss() -> None:
    held = Trade(opened_at=AT, closed_at=None, realized_usd=Decimal(0), unrealized_usd=Decimal("-19.23"))
    record = book_record([held], total_capital=Decimal(5000), start=AT, now=AT + timedelta(hours=1))
    assert [point.equity_usd for point in record.equity] == [Decimal(5000), Decimal("4980.77")]
    assert (record.pnl_usd, record.win_rate, record.closed_trades) == (Decimal("-19.23"), Decimal(0), 0)
    winner = Trade(opened_at=AT, closed_at=None, realized_usd=Decimal(0), unrealized_usd=Decimal("3"))
    assert book_record([winner], total_capital=Decimal(5000), start=AT, now=AT).win_rate is None


def test_wilson_interval_against_known_values() -> None:
    low, high = wilson_interval(8, 10) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = wilson_interval(0, 10) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.0, 0.2775)
    low, high = wilson_interval(15, 20) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.5313, 0.8881)
    assert wilson_interval(0, 0) is None


def test_t_quantiles_against_the_tables() -> None:
    for probability, df, known in [(0.95, 19, 1.729133), (0.95, 9, 1.833113), (0.975, 4, 2.776445),
                                   (0.95, 1, 6.313752), (0.95, 100, 1.660234)]:
        assert abs(t_quantile(probability, df) - known) < 2e-6, (probability, df)


def test_mean_lower_bound_is_one_sided_student_t() -> None:
    mean, bound = mean_lower_bound([Decimal(v) for v in (1, 2, 3, 4, 5)]) or (0, 0)
    # 3 − t(0.95, 4) · 1.5811 / √5 = 3 − 2.131847 · 0.707107
    assert mean == 3 and round(float(bound), 4) == 1.4926
    assert mean_lower_bound([Decimal(1)]) is None


def test_calibration_compares_wins_with_the_prices_paid() -> None:
    # Favourites bought at 0.90: nine wins of ten is what the market priced, no edge.
    trades = [closed("1", hour, "0.90") for hour in range(9)] + [closed("-9", 9, "0.90")]
    fair = calibration(trades)
    assert fair is not None and (fair.trades, fair.wins) == (10, 9)
    assert round(fair.price_paid, 4) == 0.9 and round(fair.edge, 4) == 0.0 and round(fair.z or 1, 4) == 0.0
    # Longshots at 0.20 that win half the time: +30 points over the price, z = (5 − 2) / √(10 · 0.16) = 2.3717.
    sharp = calibration([closed("4" if k % 2 else "-1", k, "0.20") for k in range(10)])
    assert sharp is not None and round(sharp.edge, 4) == 0.3 and round(sharp.z or 0, 4) == 2.3717
    assert calibration([closed("1", 1)]) is None
