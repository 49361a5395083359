"""Every risk check refuses with a reason a person can act on, in the order docs/money.md gives."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from trading.capital import CapitalPlan
from trading.risk import Authority, EntryExposure, entry_refusal, exit_refusal

PLAN = CapitalPlan.from_config(
    {"capital": {"total_capital": 2000, "capital_per_trade": 50, "max_positions": 2, "max_position_size": 200,
                 "max_daily_loss": 100, "sizing_method": "fixed"},
     "risk_limits": {"max_order_usd": 50, "max_daily_usd": 300, "allowed_services": ["kalshi"]}},
    "kalshi",
)
OK = EntryExposure(venue="kalshi", cost_usd=D("49.73"), available_usd=D(2000), open_positions=0,
                   adds_to_open_position=False, position_cost_usd=D(0), spent_today_usd=D(0))
PAPER = Authority(live=False, approved_for_live=False, kill_switch=False)


def refused(exposure: EntryExposure = OK, authority: Authority = PAPER, plan: CapitalPlan = PLAN) -> tuple[str, str]:
    refusal = entry_refusal(plan, exposure, authority)
    assert refusal is not None
    return refusal.check, refusal.reason


def test_an_order_within_every_limit_passes() -> None:
    assert entry_refusal(PLAN, OK, PAPER) is None


def test_another_venue_is_refused_whatever_allowed_services_says() -> None:
    assert refused(replace(OK, venue="polymarket")) == (
        "venue", "polymarket is not this strategy's platform (kalshi): orders go only there")
    wide = replace(PLAN, allowed_services=("kalshi", "polymarket"))  # what a script may read, not where it trades
    assert refused(replace(OK, venue="polymarket"), plan=wide)[0] == "venue"


def test_a_notional_over_max_order_usd_is_refused() -> None:
    assert refused(replace(OK, cost_usd=D("50.01"))) == (
        "max_order_usd", "order of $50.01 exceeds risk_limits.max_order_usd $50")


def test_over_deploying_capital_is_refused() -> None:
    assert refused(replace(OK, available_usd=D("12.5"))) == (
        "capital", "capital would be over-deployed: order of $49.73, $12.50 available")


def test_a_new_position_beyond_max_positions_is_refused_but_adding_to_one_is_not() -> None:
    assert refused(replace(OK, open_positions=2)) == (
        "max_positions", "max_positions reached: 2 open (or being opened by working orders) of capital.max_positions 2")
    assert entry_refusal(PLAN, replace(OK, open_positions=2, adds_to_open_position=True), PAPER) is None


def test_a_position_growing_beyond_max_position_size_is_refused() -> None:
    # holds 160, + 49.73 = 209.73 > 200
    assert refused(replace(OK, adds_to_open_position=True, position_cost_usd=D(160))) == (
        "max_position_size",
        "position would exceed capital.max_position_size $200: holds $160.00 filled or working, order of $49.73")


def test_spending_beyond_max_daily_usd_today_is_refused() -> None:
    # 260 spent today + 49.73 = 309.73 > 300
    assert refused(replace(OK, spent_today_usd=D(260))) == (
        "max_daily_usd",
        "today's spend would exceed risk_limits.max_daily_usd $300: $260.00 spent today (UTC) or reserved by working "
        "orders, order of $49.73")


def test_live_needs_this_version_approved_for_live_and_the_kill_switch_off() -> None:
    assert refused(authority=Authority(live=True, approved_for_live=False, kill_switch=False))[0] == "live_approval"
    assert entry_refusal(PLAN, OK, Authority(live=True, approved_for_live=True, kill_switch=False)) is None
    assert refused(authority=Authority(live=True, approved_for_live=True, kill_switch=True)) == (
        "kill_switch", "the global kill switch is on: no live orders are sent")
    # Paper trading is not what the kill switch stops.
    assert entry_refusal(PLAN, OK, Authority(live=False, approved_for_live=False, kill_switch=True)) is None


def test_after_the_daily_loss_limit_entries_are_refused() -> None:
    authority = replace(PAPER, daily_loss_reason="today's loss $100.00 reached capital.max_daily_loss $100")
    assert refused(authority=authority)[0] == "max_daily_loss"


def test_checks_run_in_the_designs_order() -> None:
    everything_wrong = EntryExposure(venue="kalshi", cost_usd=D(900), available_usd=D(10), open_positions=9,
                                     adds_to_open_position=False, position_cost_usd=D(500), spent_today_usd=D(999))
    kill = Authority(live=True, approved_for_live=False, kill_switch=True)
    order = []
    exposure = everything_wrong
    plan = PLAN
    for fix in ("max_order_usd", "capital", "max_positions", "max_position_size", "max_daily_usd"):
        check, _ = refused(exposure, kill, plan)
        order.append(check)
        assert check == fix
        if fix == "max_order_usd":
            plan = replace(plan, max_order_usd=None)
        exposure = {
            "max_order_usd": replace(exposure),
            "capital": replace(exposure, available_usd=D(10_000)),
            "max_positions": replace(exposure, open_positions=0),
            "max_position_size": replace(exposure, position_cost_usd=D(0), cost_usd=D(150)),
            "max_daily_usd": replace(exposure, spent_today_usd=D(0)),
        }[fix]
    assert refused(exposure, kill, plan)[0] == "live_approval"
    assert order == ["max_order_usd", "capital", "max_positions", "max_position_size", "max_daily_usd"]


def test_exits_only_face_the_venue_live_approval_and_kill_switch_checks() -> None:
    assert exit_refusal(PLAN, "kalshi", PAPER) is None
    assert exit_refusal(PLAN, "alpaca", PAPER) is not None
    assert exit_refusal(PLAN, "kalshi", Authority(live=True, approved_for_live=True, kill_switch=True)) is not None
    assert exit_refusal(PLAN, "kalshi", Authority(live=False, approved_for_live=False, kill_switch=True)) is None


def test_a_strategy_paused_by_a_limit_takes_no_entries_until_enabled() -> None:
    authority = replace(PAPER, paused_reason="today's loss $100.00 reached capital.max_daily_loss $100")
    check, reason = refused(authority=authority)
    assert check == "paused" and reason.startswith("the strategy is paused (today's loss $100.00")
