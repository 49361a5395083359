"""The paper → live checklist counts this version's paper record only, open positions marked to
market, and measures drawdown on this version's capital. Trades go through the ledger (orders, fills)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import api_key_issue
from strategies.models import StrategyVersion
from strategies.selectors import calibration_words, strategy_graduation
from strategies.services import ApprovalError, strategy_deploy, strategy_version_approve, strategy_version_create
from tests.conftest import example_files
from tests.strategies.paper_record import paper_trades

pytestmark = pytest.mark.django_db


def checks(graduation) -> dict[str, str]:
    return {check.name: check.actual for check in graduation.checks}


def files_with_capital(total_capital: int) -> dict[str, str]:
    files = example_files("kalshi_favourite_longshot")
    config = json.loads(files["config.json"])
    config["capital"]["total_capital"] = total_capital
    files["config.json"] = json.dumps(config)
    return files


def next_version_approved(version: StrategyVersion, files: dict[str, str], by: User) -> StrategyVersion:
    new, _ = strategy_version_create(strategy=version.strategy, owner=version.strategy.owner, files=files)
    return strategy_version_approve(version=new, by=by)


def test_another_versions_trades_do_not_count(alice, staff) -> None:
    first = strategy_deploy(owner=alice, files=files_with_capital(2000), approve_by=staff)
    paper_trades(first, ["10"] * 20)  # v1 graduated…
    assert strategy_graduation(first.strategy).passed
    second = next_version_approved(first, files_with_capital(2500), staff)
    second.strategy.refresh_from_db()
    graduation = strategy_graduation(second.strategy)  # …v2 has no record of its own
    assert checks(graduation)["closed paper trades"] == "0" and not graduation.passed
    with pytest.raises(ApprovalError, match=r"closed paper trades: 0 \(needs ≥ 20\)"):
        strategy_version_approve(version=second, by=staff, live=True)
    paper_trades(second, ["10"] * 19 + ["-5"])
    assert checks(strategy_graduation(second.strategy)) == {
        "closed paper trades": "20", "win rate": "95.0%", "paper P&L": "$185.00", "max drawdown": "0.2%"}


def test_open_losers_count_as_losses_marked_to_market(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=files_with_capital(2000), approve_by=staff)
    # 20 small closed wins (+$40), and 5 losers held open: bought at 0.50, marked at 0.30 (−$200 each).
    paper_trades(version, ["2"] * 20, open_marks=("0.30",) * 5)
    graduation = strategy_graduation(version.strategy)
    assert checks(graduation) == {
        "closed paper trades": "20",
        "win rate": "80.0%",  # 20 wins of 25: every open loser is a loss
        "paper P&L": "$-960.00",  # +40 closed, −1000 open
        "max drawdown": "49.0%",  # from the 2040 peak to 1040 at today's marks
    }
    assert not graduation.passed
    with pytest.raises(ApprovalError, match="has not graduated"):
        strategy_version_approve(version=version, by=staff, live=True)


def test_an_open_winner_is_not_a_win_until_closed(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=files_with_capital(2000), approve_by=staff)
    paper_trades(version, ["10"] * 10 + ["-5"] * 10, open_marks=("0.90",))
    assert checks(strategy_graduation(version.strategy))["win rate"] == "50.0%"  # 10 of 20 closed; +400 open


def test_drawdown_is_measured_on_this_versions_capital(alice, staff) -> None:
    small = strategy_deploy(owner=alice, files=files_with_capital(2000), approve_by=staff)
    # 15 wins of 40 make a 2600 peak on 2000, then 6 losses of 100 fall 600 from it: 23.1 %.
    paper_trades(small, ["40"] * 15 + ["-100"] * 6)
    next_version_approved(small, files_with_capital(20000), staff)  # the next version: 10× capital
    small.strategy.refresh_from_db()
    assert small.strategy.config["capital"]["total_capital"] == 20000
    assert checks(strategy_graduation(small.strategy, version=small))["max drawdown"] == "23.1%"


def test_each_check_shows_its_uncertainty(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=files_with_capital(2000), approve_by=staff)
    paper_trades(version, ["10"] * 15 + ["-5"] * 5)  # bought at 0.50 each, on Kalshi
    graduation = strategy_graduation(version.strategy)
    notes = {check.name: check.uncertainty for check in graduation.checks}
    assert notes["win rate"] == "95% interval 53.1% – 88.8% (Wilson, 15 of 20)"
    # mean 6.25, s = √(843.75 / 19) = 6.6639, 6.25 − 1.729133 · 6.6639 / √20 = 3.673
    assert notes["paper P&L"] == "mean $6.25 per trade after fees, 95% lower bound $3.67 (Student's t, 20 trades)"
    assert graduation.passed and len(graduation.checks) == 4  # the stricter gate is off by default
    calibration = graduation.statistics.calibration if graduation.statistics else None
    assert calibration is not None and (calibration.trades, calibration.wins) == (20, 15)
    assert calibration_words(calibration) == (
        "won 75.0% of 20 trades bought at an average price of 0.50, which a calibrated market wins 50.0% of the "
        "time: +25.0 points over the price, z = +2.24")  # (15 − 10) / √(20 · 0.25)


def test_the_stricter_gate_needs_the_lower_bound_above_zero(alice, staff, settings) -> None:
    version = strategy_deploy(owner=alice, files=files_with_capital(2000), approve_by=staff)
    paper_trades(version, ["10"] * 12 + ["-12"] * 8)  # +$24, 60 % wins, yet a mean of $1.20 ± a lot
    assert strategy_graduation(version.strategy).passed
    settings.GRADUATION_REQUIRE_LOWER_BOUND = True
    graduation = strategy_graduation(version.strategy)
    strict = graduation.checks[-1]
    assert (strict.name, strict.required, strict.passed) == ("mean P&L per trade, lower bound", "> $0", False)
    assert strict.actual.startswith("−$") and not graduation.passed
    with pytest.raises(ApprovalError, match=r"mean P&L per trade, lower bound: −\$"):
        strategy_version_approve(version=version, by=staff, live=True)


def test_the_graduation_tool_answers_with_the_statistics(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=files_with_capital(2000), approve_by=staff)
    paper_trades(version, ["10"] * 15 + ["-5"] * 5)
    key = api_key_issue(user=alice, label="agent", scope="agent")
    body = Client().get(f"/api/v1/strategies/{version.strategy_id}/graduation/",
                        HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert body["passed"] is True and "Wilson" in body["explanation"]
    assert body["checks"][1]["uncertainty"].startswith("95% interval 53.1%")
    statistics = body["statistics"]
    assert (statistics["trades"], statistics["wins"], statistics["strict"]) == (20, 15, False)
    assert statistics["win_rate_interval"] == {"low": "0.5313", "high": "0.8881"}
    assert (statistics["mean_pnl_per_trade_usd"], statistics["mean_pnl_lower_bound_usd"]) == ("6.25", "3.67")
    assert (statistics["calibration"]["price_paid"], statistics["calibration"]["edge"]) == ("0.5000", "0.2500")
    html = logged_in(alice).get(f"/strategies/{version.strategy_id}/").content.decode()
    assert "95% interval 53.1% – 88.8% (Wilson, 15 of 20)" in html and "Calibration against the market." in html


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
