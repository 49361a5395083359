"""The paper → live checklist counts this version's paper record only, open positions marked to
market, and measures drawdown on this version's capital. Trades go through the ledger (orders, fills)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from strategies.models import StrategyVersion
from strategies.selectors import strategy_graduation
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
