"""The database itself refuses bad states: every constraint and the immutability triggers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from chatfiles.models import ChatFile, ImmutableError
from strategies.models import Execution, ExecutionAction, ExecutionLog, Strategy, StrategyVersion, describe_interval
from strategies.services import strategy_deploy
from tests.conftest import example_files

pytestmark = [pytest.mark.django_db, pytest.mark.storage]


@pytest.fixture
def version(alice) -> StrategyVersion:
    return strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))


def refused(model: Any, pk: int, **changes: Any) -> None:
    """Assert the database refuses this update (bypassing model validation, as another process could)."""
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=pk).update(**changes)


@pytest.mark.parametrize("interval", [4, 86401, 0])
def test_polling_interval_is_bounded(version, interval: int) -> None:
    refused(Strategy, version.strategy_id, polling_interval=interval)


@pytest.mark.parametrize(
    ("field", "value"), [("platform", "binance"), ("mode", "yolo"), ("status", "running"), ("name", ""), ("thesis", "")]
)
def test_strategy_fields_only_hold_valid_values(version, field: str, value: str) -> None:
    refused(Strategy, version.strategy_id, **{field: value})


def test_a_strategy_past_draft_has_a_version(version) -> None:
    refused(Strategy, version.strategy_id, current_version=None)


def test_run_counts_add_up(version) -> None:
    refused(Strategy, version.strategy_id, runs_total=1, runs_succeeded=1, runs_failed=1)


def test_a_name_is_unique_per_owner_until_archived(version, alice) -> None:
    strategy = version.strategy
    with pytest.raises(IntegrityError), transaction.atomic():
        Strategy.objects.create(
            owner=alice, name=strategy.name, thesis="t", platform="kalshi", polling_interval=60, config={}
        )
    Strategy.objects.filter(pk=strategy.pk).update(status="archived")
    Strategy.objects.create(
        owner=alice, name=strategy.name, thesis="t", platform="kalshi", polling_interval=60, config={}
    )


def test_version_numbers_are_unique_per_strategy(version, alice) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        StrategyVersion.objects.create(
            strategy=version.strategy, number=1, layout="scripts", config={}, content_hash="0" * 64, created_by=alice
        )


def test_an_approval_names_who_and_when(version, staff) -> None:
    refused(StrategyVersion, version.pk, approved_paper_by=staff)
    refused(StrategyVersion, version.pk, approved_paper_at=timezone.now())


def test_live_approval_needs_paper_approval(version, staff) -> None:
    refused(StrategyVersion, version.pk, approved_live_by=staff, approved_live_at=timezone.now())


def test_a_rejection_has_a_reason_and_excludes_approval(version, staff) -> None:
    now = timezone.now()
    refused(StrategyVersion, version.pk, rejected_by=staff, rejected_at=now, rejection_reason="")
    refused(
        StrategyVersion,
        version.pk,
        rejected_by=staff,
        rejected_at=now,
        rejection_reason="no",
        approved_paper_by=staff,
        approved_paper_at=now,
    )


@pytest.mark.parametrize(
    ("field", "value"), [("config", {"x": 1}), ("content_hash", "f" * 64), ("layout", "class"), ("number", 7)]
)
def test_a_versions_code_and_config_cannot_change_even_in_raw_sql(version, field: str, value: Any) -> None:
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        StrategyVersion.objects.filter(pk=version.pk).update(**{field: value})


def test_a_version_refuses_a_save_that_touches_its_code(version) -> None:
    version.config = {"changed": True}
    with pytest.raises(ImmutableError):
        version.save()


def test_chat_files_are_immutable_in_the_model_and_the_database(alice) -> None:
    chat_file = ChatFile.objects.create(owner=alice, filename="entry.py", content="x = 1\n")
    assert len(chat_file.sha256) == 64
    with pytest.raises(ImmutableError):
        chat_file.save()
    with pytest.raises(ImmutableError):
        ChatFile.objects.filter(pk=chat_file.pk).update(content="y")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE chatfiles_chatfile SET content = %s WHERE id = %s", ["evil", chat_file.pk])
    assert ChatFile.objects.get(pk=chat_file.pk).content == "x = 1\n"


@pytest.mark.parametrize("filename", ["../etc/passwd", ".env", "a/b.py", ""])
def test_chat_file_names_are_plain(alice, filename: str) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        ChatFile.objects.create(owner=alice, filename=filename, content="x")


def make_execution(version: StrategyVersion, **fields: Any) -> Execution:
    defaults: dict[str, Any] = {"trigger": "scheduled", "mode": "paper", "scheduled_for": timezone.now()}
    return Execution.objects.create(strategy=version.strategy, version=version, **{**defaults, **fields})


def test_a_scheduled_slot_runs_once(version) -> None:
    slot = timezone.now()
    make_execution(version, scheduled_for=slot)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_execution(version, scheduled_for=slot)
    make_execution(version, scheduled_for=slot, trigger="manual")  # a manual run may share the moment


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "running"},  # running without a start
        {"status": "succeeded", "started_at": timezone.now()},  # done without a finish
        {"status": "queued", "finished_at": timezone.now()},  # finished while queued
        {"status": "failed", "started_at": timezone.now(), "finished_at": timezone.now() + timedelta(seconds=1)},
        {"status": "succeeded", "started_at": timezone.now(), "finished_at": timezone.now() - timedelta(seconds=5)},
        {"trigger": "cron"},
        {"status": "exploded"},
        {"mode": "yolo"},
    ],
)
def test_an_execution_never_holds_an_impossible_state(version, fields: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make_execution(version, **fields)


def test_a_finished_execution_is_consistent(version) -> None:
    started = timezone.now()
    execution = make_execution(
        version, status="failed", started_at=started, finished_at=started + timedelta(seconds=2), error="Traceback ..."
    )
    assert execution.duration_ms == 2000


def test_log_and_action_sequence_numbers_are_unique_per_execution(version) -> None:
    execution = make_execution(version)
    now = timezone.now()
    ExecutionLog.objects.create(execution=execution, seq=1, ts=now, message="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExecutionLog.objects.create(execution=execution, seq=1, ts=now, message="b")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExecutionLog.objects.create(execution=execution, seq=2, ts=now, message="b", level="loud")
    ExecutionAction.objects.create(execution=execution, seq=1, ts=now, kind="order_placed")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExecutionAction.objects.create(execution=execution, seq=1, ts=now, kind="order_placed")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(60, "60 seconds"), (5, "5 seconds"), (300, "300 seconds"), (3600, "hour"), (7200, "2 hours"), (86400, "day")],
)
def test_the_schedule_reads_like_the_dashboard(seconds: int, text: str) -> None:
    assert describe_interval(seconds) == text


def test_a_run_s_rows_carry_no_index_another_one_covers() -> None:
    """Every run writes an execution row (three times), a few log lines and maybe actions: each index is one more
    entry to write, so a foreign key whose column already leads a composite index has no index of its own. The
    composite ones serve its lookups and the cascades; the constraints stay."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexdef FROM pg_indexes WHERE tablename IN "
                       "('strategies_execution', 'strategies_executionlog', 'strategies_executionaction')")
        columns: dict[str, list[str]] = {}
        for table, definition in cursor.fetchall():
            columns.setdefault(table, []).append(definition.split(" USING btree ")[1].split(" WHERE ")[0])
        cursor.execute("SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text"
                       " IN ('strategies_executionlog', 'strategies_executionaction')")
        foreign_keys = sorted(table for (table,) in cursor.fetchall())
    assert "(strategy_id)" not in columns["strategies_execution"]
    assert "(strategy_id, scheduled_for DESC)" in columns["strategies_execution"]
    for table in ("strategies_executionlog", "strategies_executionaction"):
        assert "(execution_id)" not in columns[table]
        assert "(execution_id, seq)" in columns[table]
    assert foreign_keys == ["strategies_executionaction", "strategies_executionlog"]
