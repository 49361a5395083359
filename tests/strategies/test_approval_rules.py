"""Who may decide what in the admin: live approval has its own permission and is never self-approval
(unless the setting allows it); the strategy form edits nothing a service owns; Pause / Enable go
through the services. Each test posts to the admin with the test client, against a real database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client

from strategies.models import Strategy, StrategyVersion
from strategies.services import ApprovalError, strategy_deploy, strategy_version_approve, strategy_version_reject
from tests.conftest import REVIEWER_PERMS, example_files
from tests.strategies.paper_record import paper_trades
from trading.killswitch import kill_switch_set

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/strategies/strategy/"
GRADUATES = ["10"] * 20  # 20 closed paper wins: graduated, so only the rules about people can refuse


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, action: str, strategy: Strategy, **extra: str) -> str:
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [strategy.pk], **extra}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def graduated(owner: User, reviewer: User, *, name: str = "kalshi_favourite_longshot") -> Strategy:
    """Approved for paper by `reviewer`, with a graduating paper record."""
    version = strategy_deploy(owner=owner, files=example_files(name), approve_by=reviewer)
    paper_trades(version, GRADUATES)
    return Strategy.objects.get(pk=version.strategy_id)


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> User:
    return make_user("viewer", staff=True, perms=("strategies.view_strategy",))


@pytest.fixture
def paper_reviewer(make_user: Callable[..., User]) -> User:
    return make_user("paper-reviewer", staff=True, perms=("strategies.view_strategy", "strategies.approve_paper"))


@pytest.fixture
def live_reviewer(make_user: Callable[..., User]) -> User:
    return make_user("live-reviewer", staff=True, perms=("strategies.view_strategy", *REVIEWER_PERMS))


@pytest.fixture
def operator(db: None) -> User:
    return get_user_model().objects.create_superuser("boss", password="pw-for-tests-1")


def test_a_view_only_staff_user_can_neither_approve_nor_reject(alice, viewer) -> None:
    strategy = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot")).strategy
    client = logged_in(viewer)
    page = client.get(CHANGELIST).content.decode()
    assert strategy.name in page  # they may look…
    assert 'value="approve_for_paper"' not in page and 'value="reject"' not in page  # …not decide
    act(client, "approve_for_paper", strategy)
    act(client, "reject", strategy, reason="I am only a viewer")
    strategy.refresh_from_db()
    version = StrategyVersion.objects.get()
    assert strategy.status == "pending_approval" and version.approved_paper_at is None and not version.rejected_at
    with pytest.raises(ApprovalError, match="needs the permission strategies.approve_paper"):
        strategy_version_approve(version=version, by=viewer)  # the service says no too, whatever the door
    with pytest.raises(ApprovalError, match="needs the permission strategies.approve_paper"):
        strategy_version_reject(version=version, by=viewer, reason="no")
    assert StrategyVersion.objects.get().approved_paper_at is None


def test_paper_permission_alone_cannot_approve_for_live(alice, paper_reviewer) -> None:
    strategy = graduated(alice, paper_reviewer)
    client = logged_in(paper_reviewer)
    page = client.get(CHANGELIST).content.decode()
    assert 'value="approve_for_paper"' in page and 'value="approve_for_live"' not in page
    act(client, "approve_for_live", strategy)
    assert StrategyVersion.objects.get().approved_live_at is None
    with pytest.raises(ApprovalError, match="only staff with the permission strategies.approve_live"):
        strategy_version_approve(version=StrategyVersion.objects.get(), by=paper_reviewer, live=True)
    assert StrategyVersion.objects.get().approved_live_at is None


def test_a_live_reviewer_approves_someone_elses_graduated_strategy(alice, live_reviewer) -> None:
    strategy = graduated(alice, live_reviewer)
    page = act(logged_in(live_reviewer), "approve_for_live", strategy)
    assert "v1 approved for live trading" in page
    version = StrategyVersion.objects.get()
    assert version.approved_live_by == live_reviewer and version.approved_live_at is not None


def test_the_owner_cannot_approve_their_own_strategy_for_live(live_reviewer, settings) -> None:
    strategy = graduated(live_reviewer, live_reviewer)  # paper self-approval is fine
    client = logged_in(live_reviewer)
    page = act(client, "approve_for_live", strategy)
    assert "you cannot approve your own strategy for live trading: another reviewer must" in page
    assert StrategyVersion.objects.get().approved_live_at is None

    settings.ALLOW_SELF_LIVE_APPROVAL = True  # a single-person deployment
    assert "v1 approved for live trading" in act(client, "approve_for_live", strategy)
    assert StrategyVersion.objects.get().approved_live_by == live_reviewer


def test_posting_the_change_form_changes_nothing_a_service_owns(alice, staff, operator) -> None:
    strategy = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), mode="live",
                               approve_by=staff).strategy
    Strategy.objects.filter(pk=strategy.pk).update(enabled=False, paused_reason="kill switch: incident")
    client = logged_in(operator)
    url = f"{CHANGELIST}{strategy.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="mode"' not in page and 'name="enabled"' not in page and 'name="paused_reason"' not in page
    response = client.post(url, {"mode": "paper", "enabled": "on", "paused_reason": "", "status": "approved"})
    assert response.status_code == 403
    strategy.refresh_from_db()
    assert (strategy.mode, strategy.enabled, strategy.paused_reason) == ("live", False, "kill switch: incident")


def test_pause_and_enable_go_through_the_services_and_enable_refuses_under_the_kill_switch(
        alice, staff, operator) -> None:
    live = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), mode="live",
                           approve_by=staff).strategy
    client = logged_in(operator)
    assert f"{live.name}: paused" in act(client, "pause", live)
    live.refresh_from_db()
    assert (live.enabled, live.paused_reason) == (False, "paused in the admin by boss")

    kill_switch_set(engaged=True, by=operator, reason="venue incident")
    page = act(client, "enable", live)
    assert f"{live.name}: not enabled: the kill switch is engaged (venue incident)" in page
    live.refresh_from_db()
    assert not live.enabled

    kill_switch_set(engaged=False, by=operator, reason="resolved")
    assert f"{live.name}: enabled" in act(client, "enable", live)
    live.refresh_from_db()
    assert live.enabled and live.paused_reason == "" and live.next_run_at is not None


def test_a_view_only_user_cannot_pause_or_enable(alice, staff, viewer) -> None:
    strategy = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"),
                               approve_by=staff).strategy
    client = logged_in(viewer)
    assert 'value="pause"' not in client.get(CHANGELIST).content.decode()
    act(client, "pause", strategy)
    strategy.refresh_from_db()
    assert strategy.enabled
