"""Writes for strategies: deploy, approve, reject, pause, enable, archive, clone.

Who may approve is checked here, whichever door calls: paper approval (and rejection) needs
`strategies.approve_paper`, live approval staff status, `strategies.approve_live` and someone
other than the owner (unless `ALLOW_SELF_LIVE_APPROVAL`). Other doors check who may call the rest.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from chatfiles.models import ChatFile
from chatfiles.services import chatfile_create
from strategies.models import Backtest, Execution, Mode, Strategy, StrategyVersion
from strategies.rules import cycles_in_flight, strategy_not_startable_reason
from strategies.selectors import strategy_graduation
from strategies.validation import (
    CONFIG_FILE,
    StrategyInvalid,
    ValidatedStrategy,
    ValidationIssue,
    content_hash,
    strategy_files_validate,
)
from strategies.webhooks import webhook_strategy_paused, webhook_version_pending
from strategyhub.lib.redis_client import shared_key, shared_redis
from strategyhub.lib.refusal import Refused, issue
from trading.killswitch import kill_switch_engaged, kill_switch_reason
from trading.models import Order, Position
from trading.selectors import WORKING


class ActionRefused(Refused):
    """Pause / Enable / Run now cannot be carried out; the message says why."""

    type = "not_runnable"


class ApprovalError(Refused):
    """An approval or a rejection that may not be made (by whom, of which version); the message says why."""

    type = "approval_refused"


class StrategyNameTaken(StrategyInvalid):
    """A deploy named one of the owner's strategies: changing it is a new version of that strategy, asked for
    by its id (`strategy_version_create`), never a side effect of a name."""

    type = "name_taken"
    status = 409

    def __init__(self, strategy: Strategy) -> None:
        self.strategy_id: int = strategy.pk
        self.name = strategy.name
        super().__init__([ValidationIssue(
            "config.json", f"is {strategy.name!r}, already the name of your strategy {strategy.pk}: to change it, "
            f"add a new version to strategy {strategy.pk}; for another strategy, choose another name", path="name")])
        self.message = (f"config.json: name {strategy.name!r} is taken by your strategy {strategy.pk}: to change that "
                        f"strategy, send the changed files as a new version with POST /api/v1/strategies/{strategy.pk}"
                        "/versions/ (the update_strategy tool); for a separate strategy, choose another name")

    def issues_json(self) -> list[dict[str, Any]]:
        return [issue(self.message, file="config.json", path="name")]


PAPER_APPROVAL = "strategies.approve_paper"
LIVE_APPROVAL = "strategies.approve_live"


def _approval_refusal(strategy: Strategy, version: StrategyVersion, by: User, *, live: bool) -> str:
    """Why `by` may not make this decision, or "" when they may."""
    if not live:
        if not by.has_perm(PAPER_APPROVAL):
            return f"{by.username} may not decide paper approval: it needs the permission {PAPER_APPROVAL}"
        return ""
    if not (by.is_staff and by.has_perm(LIVE_APPROVAL)):
        return (f"only staff with the permission {LIVE_APPROVAL} can approve a version for live trading; "
                f"{by.username} lacks it")
    owners = {strategy.owner_id, version.created_by_id}
    if by.pk in owners and not settings.ALLOW_SELF_LIVE_APPROVAL:
        return ("you cannot approve your own strategy for live trading: another reviewer must "
                "(ALLOW_SELF_LIVE_APPROVAL is off)")
    return ""


def _files_from_ids(owner: User, file_ids: list[int]) -> tuple[dict[str, str], list[ChatFile]]:
    found = {chat_file.pk: chat_file for chat_file in ChatFile.objects.filter(owner=owner, pk__in=file_ids)}
    issues = [
        ValidationIssue("file_ids", f"no chat file {file_id} belongs to you", path=f"file_ids[{index}]")
        for index, file_id in enumerate(file_ids)
        if file_id not in found
    ]
    chat_files = [found[file_id] for file_id in file_ids if file_id in found]
    names = [chat_file.filename for chat_file in chat_files]
    issues += [
        ValidationIssue("file_ids", f"two files are named {name!r}; send one per name")
        for name in sorted({n for n in names if names.count(n) > 1})
    ]
    if issues:
        raise StrategyInvalid(issues)
    return {chat_file.filename: chat_file.content for chat_file in chat_files}, chat_files


def first_run_at(strategy: Strategy, now: datetime) -> datetime:
    """Spread new strategies across their interval so a batch of approvals does not fire in one tick."""
    offset = int(hashlib.sha256(str(strategy.pk).encode()).hexdigest(), 16) % strategy.polling_interval
    return now + timedelta(seconds=offset)


@transaction.atomic
def strategy_deploy(
    *,
    owner: User,
    files: dict[str, str] | None = None,
    file_ids: list[int] | None = None,
    chat_id: str = "",
    mode: str = Mode.PAPER,
    approve_by: User | None = None,
) -> StrategyVersion:
    """Validate and store a strategy's files as a new strategy, at version 1, waiting for approval.

    A name the owner already uses raises StrategyNameTaken, unless the files and config are those of
    that strategy's current version: then that version is returned unchanged (a retried deploy).
    Invalid input raises StrategyInvalid before anything is written.
    """
    if (files is None) == (file_ids is None):
        raise StrategyInvalid([ValidationIssue("request", "send either files or file_ids, not both or neither")])
    chat_files: list[ChatFile] = []
    if file_ids is not None:
        files, chat_files = _files_from_ids(owner, file_ids)
    assert files is not None
    validated = strategy_files_validate(files)
    if mode not in Mode.values:
        raise StrategyInvalid(
            [ValidationIssue("request", f"mode must be one of {', '.join(Mode.values)}, got {mode!r}")]
        )

    strategy = (
        Strategy.objects.select_for_update(of=("self",))  # lock the strategy row, not the outer-joined version
        .exclude(status=Strategy.Status.ARCHIVED)
        .filter(owner=owner, name=validated.config["name"])
        .select_related("current_version")
        .first()
    )
    if strategy is not None:
        current = strategy.current_version
        if current is None or not _same_content(current, validated):
            raise StrategyNameTaken(strategy)
        if approve_by is not None and not current.is_approved_for_paper:
            strategy_version_approve(version=current, by=approve_by)
            current.refresh_from_db()
        return current
    strategy = Strategy.objects.create(
        owner=owner, mode=mode, **_strategy_fields(validated.config), status=Strategy.Status.DRAFT
    )
    version = _version_add(strategy, validated, owner=owner, chat_files=chat_files, chat_id=chat_id)
    if approve_by is not None:
        strategy_version_approve(version=version, by=approve_by)
        version.refresh_from_db()
    else:
        webhook_version_pending(version, strategy)
    return version


def _same_content(version: StrategyVersion, validated: ValidatedStrategy) -> bool:
    """Code byte for byte and config.json as parsed. Hashed again from the stored files, not read from
    `content_hash`: versions stored before the hash left config.json's text out carry the older hash."""
    stored = version.source_files()
    return content_hash(stored, json.loads(stored[CONFIG_FILE])) == validated.content_hash


def _version_add(strategy: Strategy, validated: ValidatedStrategy, *, owner: User, chat_files: list[ChatFile],
                 chat_id: str) -> StrategyVersion:
    """Store validated files as the strategy's next version, pending approval (the strategy row is locked)."""
    if not chat_files:
        chat_files = [
            chatfile_create(owner=owner, chat_id=chat_id, filename=name, content=content)
            for name, content in sorted(validated.files.items())
        ]
    version = StrategyVersion.objects.create(
        strategy=strategy,
        number=(strategy.versions.aggregate(last=Max("number"))["last"] or 0) + 1,
        layout=validated.layout,
        config=validated.config,
        content_hash=validated.content_hash,
        created_by=owner,
    )
    version.files.set(chat_files)
    if strategy.running_version_id is None:  # nothing runs yet: the strategy reads as its newest version
        for field, value in _strategy_fields(validated.config).items():
            setattr(strategy, field, value)
    # else the approved version keeps running, and the strategy keeps reading as it, until this one is approved
    strategy.current_version = version
    strategy.status = Strategy.Status.PENDING_APPROVAL
    strategy.save()
    return version


@transaction.atomic
def strategy_version_create(
    *,
    strategy: Strategy,
    owner: User,
    files: dict[str, str] | None = None,
    file_ids: list[int] | None = None,
    config: dict[str, Any] | None = None,
    chat_id: str = "",
) -> tuple[StrategyVersion, bool]:
    """A new version of an existing strategy, pending approval; returns it and whether it is new.

    `files` (or the chat files `file_ids`) replace the current version's files of the same name, the
    others are kept; `config` replaces config.json. The same code and config as the current version
    return the current version unchanged. Invalid input raises StrategyInvalid before anything is written.
    """
    if files is None and file_ids is None and config is None:
        raise StrategyInvalid([ValidationIssue("request", "send files, file_ids or config (or several)")])
    if files is not None and file_ids is not None:
        raise StrategyInvalid([ValidationIssue("request", "send either files or file_ids, not both")])
    strategy = Strategy.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=strategy.pk)
    if strategy.status == Strategy.Status.ARCHIVED:
        raise StrategyInvalid([ValidationIssue("request", f"strategy {strategy.pk} is archived")])
    current = strategy.current_version
    merged = current.source_files() if current is not None else {}
    if file_ids is not None:
        files, _ = _files_from_ids(owner, file_ids)
    merged.update(files or {})
    if config is not None:
        merged["config.json"] = json.dumps(config, indent=2, ensure_ascii=False)
    validated = strategy_files_validate(merged)
    name = validated.config["name"]
    if name != strategy.name and (
        Strategy.objects.filter(owner=owner, name=name).exclude(status=Strategy.Status.ARCHIVED).exists()
    ):
        raise StrategyInvalid([ValidationIssue(
            "config.json", f"is {name!r}, the name of another of your strategies; keep {strategy.name!r}",
            path="name")])
    if current is not None and _same_content(current, validated):
        return current, False
    version = _version_add(strategy, validated, owner=owner, chat_files=[], chat_id=chat_id)
    webhook_version_pending(version, strategy)
    return version, True


def _strategy_fields(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": config["name"],
        "description": config.get("description", ""),
        "thesis": config["thesis"],
        "platform": config["platform"],
        "polling_interval": config["polling_interval"],
        "config": config,
    }


def _lock_current(version: StrategyVersion) -> tuple[StrategyVersion, Strategy]:
    strategy = Strategy.objects.select_for_update().get(pk=version.strategy_id)
    version = StrategyVersion.objects.select_for_update().get(pk=version.pk)
    if strategy.current_version_id != version.pk:
        raise ApprovalError(
            f"{version} is not the current version of {strategy.name!r}; only the current version can be decided"
        )
    if strategy.status == Strategy.Status.ARCHIVED:
        raise ApprovalError(f"{strategy.name!r} is archived")
    return version, strategy


@transaction.atomic
def strategy_version_approve(*, version: StrategyVersion, by: User, live: bool = False) -> StrategyVersion:
    """Approve the current version for paper trading, or (after graduation, never by its owner) for live; approved
    for the strategy's mode, it replaces the version that ran (`running_version`) from the next slot on."""
    version, strategy = _lock_current(version)
    refusal = _approval_refusal(strategy, version, by, live=live)
    if refusal:
        raise ApprovalError(refusal)
    now = timezone.now()
    if version.rejected_at is not None:
        raise ApprovalError(f"{version} was rejected ({version.rejection_reason}); deploy a new version")
    if live:
        if not version.is_approved_for_paper:
            raise ApprovalError(f"{version} must be approved for paper trading before live")
        graduation = strategy_graduation(strategy, version=version)
        if not graduation.passed:
            failing = "; ".join(check.describe() for check in graduation.checks if not check.passed)
            raise ApprovalError(f"{strategy.name!r} has not graduated from paper trading: {failing}")
        if version.is_approved_for_live:
            return version
        version.approved_live_by, version.approved_live_at = by, now
        version.save(update_fields=["approved_live_by", "approved_live_at"])
        _run_if_approved(strategy, version, now)
        return version
    if version.is_approved_for_paper:
        return version
    # a sweep's point ran other parameters than the version's own: it is no backtest of this version as deployed
    if settings.REQUIRE_BACKTEST_FOR_PAPER and not version.backtests.filter(
            status=Backtest.Status.SUCCEEDED, sweep__isnull=True).exists():
        raise ApprovalError(f"{version} has no succeeded backtest, and REQUIRE_BACKTEST_FOR_PAPER is on: "
                            "run one (the Backtests tab, the API or strategy_backtest) before approving it for paper")
    version.approved_paper_by, version.approved_paper_at = by, now
    version.save(update_fields=["approved_paper_by", "approved_paper_at"])
    strategy.status = Strategy.Status.APPROVED
    strategy.save(update_fields=["status", "updated_at"])
    _run_if_approved(strategy, version, now)
    return version


def _approved_for_mode(strategy: Strategy, version: StrategyVersion) -> bool:
    return version.is_approved_for_live if strategy.mode == Mode.LIVE else version.is_approved_for_paper


def _run_if_approved(strategy: Strategy, version: StrategyVersion, now: datetime) -> None:
    """Switch the strategy's cycles to `version` once it is approved for the strategy's mode (paper, or live in
    live mode), or approved for paper when the version that runs is not approved for the mode either: from its
    next slot on, the strategy runs and reads as this version. A strategy already on its schedule keeps its slot,
    unless the interval changed; one that was not is spread across its first interval."""
    running = strategy.running_version
    if not _approved_for_mode(strategy, version) and running is not None and _approved_for_mode(strategy, running):
        return  # a live strategy keeps running its live-approved version until this one is approved for live
    fields = _strategy_fields(version.config)
    if fields["name"] != strategy.name and (
            Strategy.objects.filter(owner_id=strategy.owner_id, name=fields["name"])
            .exclude(pk=strategy.pk).exclude(status=Strategy.Status.ARCHIVED).exists()):
        raise ApprovalError(f"{version} renames the strategy {fields['name']!r}, which another strategy of its owner "
                            "is now called: the owner must choose another name in a new version")
    interval_changed = fields["polling_interval"] != strategy.polling_interval
    for field, value in fields.items():
        setattr(strategy, field, value)
    strategy.running_version = version
    if strategy.next_run_at is None or interval_changed:
        strategy.next_run_at = first_run_at(strategy, now)
    strategy.save(update_fields=[*fields, "running_version", "next_run_at", "updated_at"])


@transaction.atomic
def strategy_version_reject(*, version: StrategyVersion, by: User, reason: str) -> StrategyVersion:
    """Reject the current version with a reason the author will read; it never runs. An approved version that runs
    (`running_version`) keeps running."""
    reason = reason.strip()
    if not reason:
        raise ApprovalError("a rejection needs a reason the author can act on")
    version, strategy = _lock_current(version)
    refusal = _approval_refusal(strategy, version, by, live=False)
    if refusal:
        raise ApprovalError(refusal)
    if version.is_approved_for_paper:
        raise ApprovalError(f"{version} is already approved; pause or archive the strategy instead")
    if version.rejected_at is not None:
        return version
    version.rejected_by, version.rejected_at, version.rejection_reason = by, timezone.now(), reason
    version.save(update_fields=["rejected_by", "rejected_at", "rejection_reason"])
    strategy.status = Strategy.Status.REJECTED  # the newest version's decision; an approved one keeps running
    strategy.save(update_fields=["status", "updated_at"])
    return version


class PauseCause:
    """Who paused a strategy, as its `strategy.paused` webhook says."""

    USER = "user"
    KILL_SWITCH = "kill_switch"
    SYSTEM = "system"  # the strategy's own limits (max_daily_loss)


@transaction.atomic
def strategy_pause(*, strategy: Strategy, reason: str = "", cause: str = PauseCause.USER) -> Strategy:
    """Stop scheduling the strategy; a cycle already running finishes. Pausing a running strategy is an event."""
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    was_enabled = strategy.enabled
    strategy.enabled = False
    strategy.paused_reason = reason.strip()[:500]
    strategy.save(update_fields=["enabled", "paused_reason", "updated_at"])
    if was_enabled:
        webhook_strategy_paused(strategy, cause=cause)
    return strategy


@transaction.atomic
def strategies_pause_live(reason: str) -> int:
    """Pause every enabled live strategy through `strategy_pause`, saying why: the kill switch (engaged from
    the admin, or `KILL_SWITCH` set when a worker starts). Returns how many it paused."""
    paused = 0
    for strategy in Strategy.objects.filter(mode=Mode.LIVE, enabled=True).order_by("pk"):
        strategy_pause(strategy=strategy, reason=f"kill switch: {reason}", cause=PauseCause.KILL_SWITCH)
        paused += 1
    return paused


@transaction.atomic
def strategy_enable(*, strategy: Strategy) -> Strategy:
    """Schedule the strategy again from now, spread across one interval: no catch-up of paused slots."""
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    if strategy.mode == Mode.LIVE and kill_switch_engaged():
        raise ActionRefused(f"the kill switch is engaged ({kill_switch_reason()}): live strategies stay paused "
                            "until it is released")
    strategy.enabled = True
    strategy.paused_reason = ""
    if strategy.running_version_id is not None:
        strategy.next_run_at = first_run_at(strategy, timezone.now())
    strategy.save(update_fields=["enabled", "paused_reason", "next_run_at", "updated_at"])
    return strategy


class AlreadyRunning(ActionRefused):
    """The strategy has a cycle queued or running; cycles of one strategy never overlap."""

    type = "already_running"

    def __init__(self, message: str, execution_id: int) -> None:
        super().__init__(message)
        self.execution_id = execution_id


@transaction.atomic
def strategy_run_now(*, strategy: Strategy, enqueue: Callable[[int], object]) -> Execution:
    """Queue one cycle now (Run now) and return its execution, still `queued`; `enqueue(execution_id)` sends it
    to a worker once committed (the caller's task, `strategies.tasks.execution_cycle.delay`).

    Refused (ActionRefused) when the strategy could not run a scheduled cycle either; AlreadyRunning when
    one of its cycles is queued or running.
    """
    strategy = (Strategy.objects.select_for_update(of=("self",)).select_related("current_version", "running_version")
                .get(pk=strategy.pk))
    reason = strategy_not_startable_reason(strategy)
    if reason:
        raise ActionRefused(reason)
    active = cycles_in_flight([strategy]).first()
    if active is not None:
        raise AlreadyRunning(f"strategy {strategy.pk} already has a cycle {active.status} (execution {active.pk}); "
                             "cycles of one strategy never overlap", active.pk)
    assert strategy.running_version is not None  # a startable strategy has one
    execution = Execution.objects.create(
        strategy=strategy, version=strategy.running_version, trigger=Execution.Trigger.MANUAL, mode=strategy.mode,
        status=Execution.Status.QUEUED, scheduled_for=timezone.now(),
    )
    transaction.on_commit(lambda: enqueue(execution.pk))
    return execution


class ArchiveRefused(Refused):
    """A strategy that still holds money at risk (open positions, orders that may fill, a cycle running) is not
    archived: archiving hides it, and nothing may then be left running unseen."""

    type = "archive_refused"


@transaction.atomic
def strategy_archive(*, strategy: Strategy) -> Strategy:
    """Archive the strategy: never scheduled again, hidden from its owner's lists, its name free for another.
    Its versions, runs, orders and positions stay (the audit trail). Refused while it holds open positions or
    orders that may still fill, or a cycle is queued or running: pause it, close them, then archive."""
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    if strategy.status == Strategy.Status.ARCHIVED:
        return strategy
    problems = []
    positions = Position.objects.filter(strategy=strategy, status=Position.Status.OPEN).count()
    if positions:
        problems.append(f"{positions} open position{'s' if positions > 1 else ''}")
    orders = Order.objects.filter(strategy=strategy, status__in=WORKING).count()
    if orders:
        problems.append(f"{orders} order{'s' if orders > 1 else ''} that may still fill")
    active = cycles_in_flight([strategy]).first()
    if active is not None:
        problems.append(f"a cycle {active.status} (execution {active.pk})")
    if problems:
        raise ArchiveRefused(f"strategy {strategy.pk} still has {' and '.join(problems)}: pause it, let them close, "
                             "then archive it")
    strategy.status = Strategy.Status.ARCHIVED
    strategy.enabled = False
    strategy.next_run_at = None
    strategy.save(update_fields=["status", "enabled", "next_run_at", "updated_at"])
    return strategy


def clone_name(strategy: Strategy) -> str:
    """"<name> (copy)", or "(copy 2)", "(copy 3)"… : the first the owner does not use yet."""
    taken = set(Strategy.objects.filter(owner=strategy.owner_id).exclude(status=Strategy.Status.ARCHIVED)
                .values_list("name", flat=True))
    base = strategy.name[:110]
    return next(name for n in range(1, len(taken) + 2)
                if (name := f"{base} (copy)" if n == 1 else f"{base} (copy {n})") not in taken)


def strategy_clone(*, strategy: Strategy, owner: User, name: str = "", chat_id: str = "") -> StrategyVersion:
    """A new strategy of `owner` from the files of `strategy`'s current version, config.json's name changed to
    `name` (default: clone_name), at version 1 in paper mode waiting for approval like any deploy; a name in use
    is StrategyNameTaken. Its runs, positions and state stay with the original."""
    version = strategy.current_version
    if version is None:
        raise StrategyInvalid([ValidationIssue("request", f"strategy {strategy.pk} has no version to clone")])
    files = version.source_files()
    config = json.loads(files[CONFIG_FILE])
    config["name"] = name.strip() or clone_name(strategy)
    files[CONFIG_FILE] = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    clone = strategy_deploy(owner=owner, files=files, chat_id=chat_id)
    if clone.strategy_id == strategy.pk:  # its own name: a copy is another strategy, never the original
        raise StrategyNameTaken(strategy)
    return clone


# --- Test Run from the dashboard: at most TEST_RUNS_IN_FLIGHT_PER_USER queued or running per user (issue 22) ----
# A click queues a task and no row exists until a worker starts it, so the slots live in Redis: a sorted set per
# user of slot ids scored by when they lapse. A task frees its slot when it ends; a slot whose task was lost lapses
# after the longest a queued run may take.

class TestRunsBusy(ActionRefused):
    """The user's TEST_RUNS_IN_FLIGHT_PER_USER test runs are queued or running: one more waits for one to end."""

    __test__ = False  # not a test class, whatever pytest thinks of the name
    type = "throttled"
    status = 429
    retry_after = 5


def test_run_slot_take(*, user: User) -> str:
    """A slot for one more test run of `user`'s, to hand to its task (test_run_slot_release), or TestRunsBusy."""
    key = shared_key(f"test_runs:user{user.pk}:{user.date_joined.timestamp():.0f}")
    slot = f"{key}#{uuid.uuid4().hex}"
    now, lapse = time.time(), settings.CELERY_TASK_TIME_LIMIT + settings.TEST_RUN_QUEUE_SECONDS
    client = shared_redis()
    pipe = client.pipeline(transaction=True)
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zadd(key, {slot: now + lapse})
    pipe.expire(key, lapse)
    pipe.zcard(key)
    busy = int(pipe.execute()[-1])
    if busy > settings.TEST_RUNS_IN_FLIGHT_PER_USER:  # counted with ours: two clicks at once never both pass
        client.zrem(key, slot)
        raise TestRunsBusy(
            f"you have {busy - 1} test runs queued or running, the most at once (TEST_RUNS_IN_FLIGHT_PER_USER): "
            "retry in a few seconds, once one has finished "
            f"(a run ends within {settings.SANDBOX_WALL_SECONDS_LIMIT} s)")
    return slot


def test_run_slot_release(slot: str) -> None:
    if slot:
        shared_redis().zrem(slot.rpartition("#")[0], slot)
