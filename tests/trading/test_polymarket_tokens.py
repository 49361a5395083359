"""On Polymarket the market id is the outcome token bought, so one token is never held as both "yes" and
"no": `side` must name the token's own outcome, and a token has one open position (docs/money.md)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from strategies.models import Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.trading.test_money_risk import PAPER, PLAN
from tests.trading.test_paper_cycle import CAPITAL, LIMITS, frozen_simulator, run, venues
from trading.capital import Exposures
from trading.models import Order, Position
from trading.risk import entry_exposure, entry_refusal
from trading.simulator import VenueSimulator

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # fixtures shared with the paper cycle tests

ENTRY = """
from strategies.sdk import EntrySignal


def should_enter(ctx):
    return [EntrySignal(market_id=token, side=side, reason="test", confidence=0.6)
            for token, side in ctx.state.get("enter", [])]
"""
EXIT = "def should_exit(ctx, position):\n    return None\n"


@pytest.fixture
def strategy(alice, staff) -> Strategy:
    files = scripts_files(name="Tokens", platform="polymarket", parameters={}, capital=CAPITAL,
                          risk_limits={**LIMITS, "allowed_services": ["polymarket"]})
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    return strategy_deploy(owner=alice, files=files, approve_by=staff).strategy


@pytest.fixture
def tokens(frozen_simulator: VenueSimulator) -> tuple[str, str]:
    """The YES and NO tokens of one long-lived recorded market."""
    yes, no = frozen_simulator.polymarket.long_lived[0].token_ids[:2]
    return yes, no


def refused(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["payload"]["check"], a["payload"]["reason"]) for a in result["actions"] if a["kind"] == "order_refused"]


def test_no_on_a_yes_token_is_refused_naming_the_token_that_bets_no(strategy: Strategy, tokens) -> None:
    yes, no = tokens
    result = run(strategy, state={"enter": [[yes, "yes"], [yes, "no"]]})
    assert refused(result) == [("signal", f"on polymarket the market id is the token bought: {yes} is its market's "
                                          f"YES outcome, so its side is 'yes'; to bet NO, buy the NO token {no} "
                                          "with side 'no'")]
    # Before: a second position in the very same token, labelled "no" (and paid for twice).
    assert list(Position.objects.filter(market_id=yes).values_list("side", flat=True)) == ["yes"]
    assert Order.objects.filter(market_id=yes).count() == 1


def test_no_is_bought_as_the_no_outcomes_own_token(strategy: Strategy, tokens) -> None:
    _, no = tokens
    result = run(strategy, state={"enter": [[no, "no"], [no, "yes"]]})
    assert [check for check, _ in refused(result)] == ["signal"]
    assert list(Position.objects.values_list("market_id", "side")) == [(no, "no")]
    assert Position.objects.get().quantity > 0


def test_the_ledger_holds_one_open_position_per_polymarket_token(strategy: Strategy, tokens) -> None:
    yes, _ = tokens
    now = timezone.now()

    def open_position(side: str) -> Position:
        return Position.objects.create(strategy=strategy, book="paper", venue="polymarket", market_id=yes, side=side,
                                       quantity=D(10), cost_basis_usd=D(4), opened_at=now)

    open_position("yes")
    with pytest.raises(IntegrityError, match="position_one_open_per_polymarket_token"), transaction.atomic():
        open_position("no")
    # Kalshi's YES and NO of one ticker are two contracts, and stay two positions.
    for side in ("yes", "no"):
        Position.objects.create(strategy=strategy, book="paper", venue="kalshi", market_id="KX-A", side=side,
                                quantity=D(10), cost_basis_usd=D(4), opened_at=now)


def test_a_token_held_or_being_bought_under_one_side_refuses_the_other() -> None:
    plan = replace(PLAN, platform="polymarket", allowed_services=("polymarket",))
    working = Exposures(total_capital=D(2000), reserved={("polymarket", "T", "yes"): D(10)})
    refusal = entry_refusal(plan, entry_exposure(working, ("polymarket", "T", "no"), cost_usd=D(10)), PAPER)
    assert refusal is not None and refusal.check == "token"
    assert refusal.reason == "this token is already held or being bought as 'yes': one position per Polymarket token"
    kalshi = Exposures(total_capital=D(2000), positions={("kalshi", "T", "yes"): D(10)})
    assert entry_refusal(PLAN, entry_exposure(kalshi, ("kalshi", "T", "no"), cost_usd=D(10)), PAPER) is None
