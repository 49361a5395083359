"""Staff review strategies in the admin: the queue first, decisions through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from strategies.models import Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.conftest import example_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    user = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pending(alice) -> Strategy:
    return strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot")).strategy


def test_the_approval_queue_comes_first(admin_client: Client, alice, staff, pending: Strategy) -> None:
    approved = strategy_deploy(owner=alice, files=example_files("alpaca_mean_reversion"), approve_by=staff).strategy
    page = admin_client.get("/admin/strategies/strategy/").content.decode()
    assert page.index(pending.name) < page.index(approved.name)  # "Alpaca" sorts first by name, the queue wins


def test_a_staff_member_approves_a_strategy_with_an_action(admin_client: Client, pending: Strategy) -> None:
    response = admin_client.post(
        "/admin/strategies/strategy/",
        {
            "action": "approve_for_paper",
            "_selected_action": [pending.pk],
        },
        follow=True,
    )
    assert "v1 approved for paper trading" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == "approved" and pending.next_run_at is not None
    assert StrategyVersion.objects.get().approved_paper_by == get_user_model().objects.get(username="boss")


def test_a_reject_asks_for_a_reason_then_records_it(admin_client: Client, pending: Strategy) -> None:
    form = admin_client.post("/admin/strategies/strategy/", {"action": "reject", "_selected_action": [pending.pk]})
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    pending.refresh_from_db()
    assert pending.status == "pending_approval"  # nothing decided until a reason is given
    admin_client.post(
        "/admin/strategies/strategy/",
        {
            "action": "reject",
            "_selected_action": [pending.pk],
            "reason": "Holds to settlement with no loss limit.",
        },
    )
    pending.refresh_from_db()
    assert pending.status == "rejected"
    assert StrategyVersion.objects.get().rejection_reason == "Holds to settlement with no loss limit."


def test_live_approval_is_refused_before_graduation(admin_client: Client, pending: Strategy) -> None:
    admin_client.post("/admin/strategies/strategy/", {"action": "approve_for_paper", "_selected_action": [pending.pk]})
    response = admin_client.post(
        "/admin/strategies/strategy/",
        {
            "action": "approve_for_live",
            "_selected_action": [pending.pk],
        },
        follow=True,
    )
    assert "has not graduated from paper trading" in response.content.decode()
    assert StrategyVersion.objects.get().approved_live_at is None


def test_the_reviewer_reads_the_code_and_the_checklist(admin_client: Client, pending: Strategy) -> None:
    page = admin_client.get(f"/admin/strategies/strategy/{pending.pk}/change/").content.decode()
    assert "def should_enter(ctx):" in page
    assert "closed paper trades: 0 (needs ≥ 20)" in page
    version = StrategyVersion.objects.get()
    version_page = admin_client.get(f"/admin/strategies/strategyversion/{version.pk}/change/").content.decode()
    assert "def should_exit(ctx, position):" in version_page
    assert 'name="config"' not in version_page  # read-only: no form field to edit the code or config


def test_a_non_staff_user_cannot_reach_the_admin(client: Client, alice) -> None:
    client.force_login(alice)
    response = client.get("/admin/strategies/strategy/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def _backtest(strategy: Strategy, **fields: object) -> object:
    from django.utils import timezone

    from strategies.backtests import BacktestData, backtest_create
    from strategies.models import Backtest

    backtest = backtest_create(version=strategy.current_version, created_by=None,  # type: ignore[arg-type]
                               data=BacktestData(Backtest.Source.POLYMARKET_RECORDED, {"set": "books"}))
    now = timezone.now()
    Backtest.objects.filter(pk=backtest.pk).update(started_at=now, finished_at=now, **fields)
    return backtest


def test_the_reviewer_sees_the_versions_latest_backtest_beside_its_code(admin_client: Client,
                                                                        pending: Strategy) -> None:
    page = admin_client.get(f"/admin/strategies/strategy/{pending.pk}/change/").content.decode()
    assert "Latest backtest of the current version" in page and "none yet" in page
    backtest = _backtest(pending, status="succeeded", progress=100.0,
                         metrics={"return_pct": 12.3456, "sharpe": 1.5, "max_drawdown_pct": -4.0,
                                  "win_rate_pct": 60.0, "trades": 7})
    page = admin_client.get(f"/admin/strategies/strategy/{pending.pk}/change/").content.decode()
    assert f'href="/strategies/{pending.pk}/backtests/?backtest={backtest.pk}"' in page  # type: ignore[attr-defined]
    assert "succeeded" in page and "return % 12.35" in page and "Sharpe 1.50" in page and "trades 7" in page
    assert page.index("Latest backtest of the current version") < page.index("Code of the current version")


def test_paper_approval_can_require_a_succeeded_backtest(settings, staff, pending: Strategy) -> None:
    from strategies.services import ApprovalError, strategy_version_approve

    settings.REQUIRE_BACKTEST_FOR_PAPER = True
    _backtest(pending, status="failed", error="the data ran out")
    with pytest.raises(ApprovalError, match="no succeeded backtest.*REQUIRE_BACKTEST_FOR_PAPER"):
        strategy_version_approve(version=pending.current_version, by=staff)  # type: ignore[arg-type]
    pending.refresh_from_db()
    assert pending.status == "pending_approval" and pending.current_version.approved_paper_at is None  # type: ignore[union-attr]

    _backtest(pending, status="succeeded", progress=100.0)
    strategy_version_approve(version=pending.current_version, by=staff)  # type: ignore[arg-type]
    pending.refresh_from_db()
    assert pending.status == "approved"


def test_without_the_setting_a_version_is_approved_without_a_backtest(staff, pending: Strategy) -> None:
    from strategies.services import strategy_version_approve

    strategy_version_approve(version=pending.current_version, by=staff)  # type: ignore[arg-type]
    pending.refresh_from_db()
    assert pending.status == "approved"


def test_the_admin_action_shows_the_backtest_refusal(settings, admin_client: Client, pending: Strategy) -> None:
    settings.REQUIRE_BACKTEST_FOR_PAPER = True
    response = admin_client.post("/admin/strategies/strategy/", {"action": "approve_for_paper",
                                                                 "_selected_action": [pending.pk]}, follow=True)
    assert "no succeeded backtest" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == "pending_approval"
