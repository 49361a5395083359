"""Deploy, approve and reject through the services, against a real database."""

from __future__ import annotations

import pytest
from django.utils import timezone

from chatfiles.models import ChatFile
from chatfiles.services import chatfile_create
from strategies.models import Strategy, StrategyVersion
from strategies.services import (
    ApprovalError,
    strategy_deploy,
    strategy_version_approve,
    strategy_version_create,
    strategy_version_reject,
)
from strategies.validation import StrategyInvalid
from tests.conftest import example_files, scripts_files
from tests.strategies.paper_record import paper_trades

pytestmark = pytest.mark.django_db


def row_counts() -> tuple[int, int, int]:
    return Strategy.objects.count(), StrategyVersion.objects.count(), ChatFile.objects.count()


def test_it_deploys_a_strategy_as_version_one_pending_approval(alice) -> None:
    version = strategy_deploy(owner=alice, files=example_files("polymarket_copy_trader"), chat_id="chat-1")
    strategy = version.strategy
    assert (version.number, version.layout) == (1, "class")
    assert strategy.status == Strategy.Status.PENDING_APPROVAL
    assert (strategy.platform, strategy.polling_interval, strategy.mode) == ("polymarket", 60, "paper")
    assert strategy.thesis.startswith("Wallets with a long record")
    assert strategy.next_run_at is None
    assert sorted(f.filename for f in version.files.all()) == ["config.json", "strategy.py"]
    assert set(version.files.values_list("chat_id", flat=True)) == {"chat-1"}


def test_a_rejected_deploy_writes_nothing(alice) -> None:
    before = row_counts()
    files = scripts_files(polling_interval=1)
    with pytest.raises(StrategyInvalid):
        strategy_deploy(owner=alice, files=files)
    assert row_counts() == before


def test_deploying_the_same_code_again_changes_nothing(alice) -> None:
    first = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    again = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    assert again.pk == first.pk
    assert StrategyVersion.objects.count() == 1


def test_editing_an_approved_strategy_needs_approval_again_while_the_approved_version_keeps_running(
        alice, staff) -> None:
    first = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), approve_by=staff)
    assert first.strategy.status == Strategy.Status.APPROVED
    slot = Strategy.objects.get(pk=first.strategy_id).next_run_at
    second, _ = strategy_version_create(strategy=first.strategy, owner=alice, files=scripts_files(polling_interval=600))
    strategy = Strategy.objects.get(pk=first.strategy_id)
    assert second.number == 2
    assert (strategy.current_version, strategy.running_version) == (second, first)
    # Still on version 1's schedule: the new interval counts once version 2 is approved.
    assert (strategy.status, strategy.polling_interval, strategy.next_run_at) == ("pending_approval", 300, slot)
    strategy_version_approve(version=second, by=staff)
    strategy.refresh_from_db()
    assert (strategy.running_version, strategy.polling_interval) == (second, 600)
    assert StrategyVersion.objects.get(pk=first.pk).is_approved_for_paper  # the old approval stays on the old code


def test_approval_schedules_the_first_run_within_one_interval(alice, staff) -> None:
    before = timezone.now()
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    strategy_version_approve(version=version, by=staff)
    strategy = Strategy.objects.get(pk=version.strategy_id)
    version.refresh_from_db()
    assert strategy.status == "approved"
    assert version.approved_paper_by == staff and version.approved_paper_at is not None
    assert strategy.next_run_at is not None
    assert 0 <= (strategy.next_run_at - before).total_seconds() <= strategy.polling_interval + 1


def test_deploy_by_file_ids_uses_the_stored_chat_files(alice) -> None:
    ids = [
        chatfile_create(owner=alice, chat_id="c", filename=name, content=content).pk
        for name, content in example_files("alpaca_mean_reversion").items()
    ]
    version = strategy_deploy(owner=alice, file_ids=ids)
    assert sorted(version.files.values_list("pk", flat=True)) == sorted(ids)
    assert ChatFile.objects.count() == 3


def test_file_ids_must_belong_to_the_deployer(alice, make_user) -> None:
    bob = make_user("bob")
    theirs = chatfile_create(owner=bob, chat_id="c", filename="config.json", content="{}")
    with pytest.raises(StrategyInvalid) as caught:
        strategy_deploy(owner=alice, file_ids=[theirs.pk])
    assert [str(i) for i in caught.value.issues] == [f"file_ids: file_ids[0] no chat file {theirs.pk} belongs to you"]


def test_a_reject_needs_a_reason(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    with pytest.raises(ApprovalError, match="needs a reason"):
        strategy_version_reject(version=version, by=staff, reason="  ")
    strategy_version_reject(version=version, by=staff, reason="No stop-loss on a 10-position book.")
    strategy = Strategy.objects.get(pk=version.strategy_id)
    assert strategy.status == "rejected" and strategy.next_run_at is None
    with pytest.raises(ApprovalError, match="was rejected"):
        strategy_version_approve(version=version, by=staff)


def test_an_approved_version_cannot_be_rejected(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), approve_by=staff)
    with pytest.raises(ApprovalError, match="already approved"):
        strategy_version_reject(version=version, by=staff, reason="changed my mind")


def test_only_the_current_version_can_be_decided(alice, staff) -> None:
    old = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    strategy_version_create(strategy=old.strategy, owner=alice, files=scripts_files(polling_interval=600))
    with pytest.raises(ApprovalError, match="not the current version"):
        strategy_version_approve(version=old, by=staff)


def test_live_approval_needs_staff_paper_approval_and_graduation(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    with pytest.raises(ApprovalError, match="before live"):
        strategy_version_approve(version=version, by=staff, live=True)
    strategy_version_approve(version=version, by=staff)
    with pytest.raises(ApprovalError, match="only staff"):
        strategy_version_approve(version=version, by=alice, live=True)
    with pytest.raises(ApprovalError, match=r"closed paper trades: 0 \(needs ≥ 20\)"):
        strategy_version_approve(version=version, by=staff, live=True)


def test_a_graduated_strategy_is_approved_for_live_by_staff(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), approve_by=staff)
    paper_trades(version, ["10"] * 14 + ["-5"] * 6)  # 70 % wins, +110 USD, tiny drawdown
    strategy_version_approve(version=version, by=staff, live=True)
    version.refresh_from_db()
    assert version.approved_live_by == staff and version.approved_live_at is not None


def test_a_deep_drawdown_blocks_graduation(alice, staff) -> None:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), approve_by=staff)
    # 2000 USD capital: 15 wins of 40 make a 2600 peak, then 6 losses of 100 fall 600 from it: 23.1 %.
    paper_trades(version, ["40"] * 15 + ["-100"] * 6)
    with pytest.raises(ApprovalError, match=r"max drawdown: 23\.1% \(needs < 20%\)"):
        strategy_version_approve(version=version, by=staff, live=True)


def test_names_are_unique_per_owner_not_globally(alice, make_user) -> None:
    bob = make_user("bob")
    mine = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    theirs = strategy_deploy(owner=bob, files=example_files("kalshi_favourite_longshot"))
    assert mine.strategy_id != theirs.strategy_id


def test_an_unknown_mode_is_refused(alice) -> None:
    with pytest.raises(StrategyInvalid, match="mode must be one of backtest, paper, live"):
        strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), mode="yolo")
    assert Strategy.objects.count() == 0


def test_files_and_file_ids_are_exclusive(alice) -> None:
    with pytest.raises(StrategyInvalid, match="either files or file_ids"):
        strategy_deploy(owner=alice, files={}, file_ids=[1])
