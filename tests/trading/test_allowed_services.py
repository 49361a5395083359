"""`risk_limits.allowed_services` lists the venues a script may read market data from; orders go only to
the strategy's platform, whatever it says. One check (`trading.risk.venue_refusal`) for both."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from strategies.models import Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.trading.test_paper_cycle import CAPITAL, FED, LIMITS, frozen_simulator, venues
from trading.models import Order
from trading.risk import venue_refusal
from trading.simulator import VenueSimulator

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # fixtures shared with the paper cycle tests

# A Kalshi strategy watching a Polymarket price, then trying to trade there and at home.
ENTRY = """
from strategies.sdk import EntrySignal


def should_enter(ctx):
    book = ctx.polymarket.get_order_book(token_id=ctx.params["token"])
    ctx.log(f"polymarket best ask {book['asks'][0]['price']}")
    if ctx.state.get("order_polymarket"):
        ctx.log(str(ctx.polymarket.create_order(intent="entry", signal_index=7, market_id=ctx.params["token"],
                                                side="yes", reason="cross-venue", limit_price=0.5)))
    return [EntrySignal(market_id=ctx.params["ticker"], side="yes", reason="watched polymarket", confidence=0.6,
                        limit_price=0.55)]
"""
EXIT = "def should_exit(ctx, position):\n    return None\n"


def deploy(owner, staff, *, allowed: list[str], token: str, name: str) -> Strategy:
    files = scripts_files(name=name, parameters={"token": token, "ticker": FED}, capital=CAPITAL,
                          risk_limits={**LIMITS, "allowed_services": allowed})
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    return strategy_deploy(owner=owner, files=files, approve_by=staff).strategy


def run(strategy: Strategy, state: dict[str, Any] | None = None) -> dict[str, Any]:
    Strategy.objects.filter(pk=strategy.pk).update(state=state or {})
    out = StringIO()
    call_command("strategy_run", str(strategy.pk), "--json", stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


@pytest.fixture
def token(frozen_simulator: VenueSimulator) -> str:
    return frozen_simulator.polymarket.long_lived[0].token_ids[0]


def test_a_kalshi_strategy_may_read_polymarket_prices_when_allowed_services_lists_it(alice, staff, token) -> None:
    result = run(deploy(alice, staff, allowed=["kalshi", "polymarket"], token=token, name="Watches Polymarket"))
    assert result["status"] == "succeeded", result["error"]
    assert any(line["message"].startswith("polymarket best ask 0.") for line in result["logs"])
    assert [action["kind"] for action in result["actions"]] == ["order_placed"]  # and trades at home, on Kalshi
    assert Order.objects.get().venue == "kalshi"


def test_a_read_from_a_venue_not_in_allowed_services_is_refused_naming_it(alice, staff, token) -> None:
    result = run(deploy(alice, staff, allowed=["kalshi"], token=token, name="Kalshi only"))
    assert result["status"] == "failed"
    assert ("ctx.polymarket is not available: polymarket is not in risk_limits.allowed_services (kalshi): "
            "add it there to read its market data") in result["error"]


def test_an_order_to_another_venue_is_refused_whatever_allowed_services_says(
        alice, staff, token, frozen_simulator: VenueSimulator) -> None:
    placed = frozen_simulator.orders.count("polymarket", "received")
    result = run(deploy(alice, staff, allowed=["kalshi", "polymarket"], token=token, name="Tries Polymarket"),
                 state={"order_polymarket": True})
    assert result["status"] == "succeeded", result["error"]
    refused, home = result["actions"]
    assert (refused["kind"], refused["payload"]["check"]) == ("order_refused", "venue")
    assert refused["payload"]["reason"] == "polymarket is not this strategy's platform (kalshi): orders go only there"
    assert home["kind"] == "order_placed"
    assert list(Order.objects.values_list("venue", flat=True)) == ["kalshi"]
    assert frozen_simulator.orders.count("polymarket", "received") == placed


def test_the_one_venue_check_reads_from_allowed_services_and_orders_to_the_platform_only() -> None:
    allowed = ("kalshi", "polymarket")
    assert venue_refusal("polymarket", platform="kalshi", allowed_services=allowed, purpose="read") is None
    assert venue_refusal("kalshi", platform="kalshi", allowed_services=allowed, purpose="order") is None
    assert venue_refusal("polymarket", platform="kalshi", allowed_services=allowed, purpose="order") is not None
    refusal = venue_refusal("alpaca", platform="kalshi", allowed_services=allowed, purpose="read")
    assert refusal is not None and "risk_limits.allowed_services (kalshi, polymarket)" in refusal.reason
