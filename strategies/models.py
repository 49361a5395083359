"""Strategies, their immutable versions, and the executions (runs) of their cycles.

Fields, choices and constraints only: workflows live in services.py.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from chatfiles.models import ChatFile, ImmutableError
from trading.venues.platforms import Platform


class Mode(models.TextChoices):
    BACKTEST = "backtest", "Backtest"
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class Layout(models.TextChoices):
    SCRIPTS = "scripts", "entry.py + exit.py"
    CLASS = "class", "strategy.py class"


MIN_POLLING_INTERVAL = 5
MAX_POLLING_INTERVAL = 86400


class StrategyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    ARCHIVED = "archived", "Archived"


class Strategy(models.Model):
    Status = StrategyStatus

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="strategies")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    thesis = models.TextField()
    platform = models.CharField(max_length=16, choices=Platform.choices)
    polling_interval = models.PositiveIntegerField(help_text="Seconds between cycles.")
    config = models.JSONField(help_text="The validated config.json of the current version.")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    paused_reason = models.CharField(max_length=500, blank=True, help_text="Why a limit or the kill switch paused it.")
    current_version = models.ForeignKey(
        "StrategyVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="The newest version: what a Test Run runs and a reviewer decides.")
    running_version = models.ForeignKey(
        "StrategyVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="The approved version its cycles run: it keeps running while a newer version waits for approval, "
                  "and approving that one (for live, in live mode) switches to it.")
    next_run_at = models.DateTimeField(null=True, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="What the script keeps between cycles.")
    runs_total = models.PositiveIntegerField(default=0)
    runs_succeeded = models.PositiveIntegerField(default=0)
    runs_failed = models.PositiveIntegerField(default=0)
    last_cycle_ms = models.PositiveIntegerField(
        default=0, help_text="How long its last cycle ran; a slow one is run on the slow lane (docs/scheduling.md)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "strategies"
        ordering = ["name", "id"]
        permissions = [
            ("approve_paper", "Can approve or reject a strategy version for paper trading"),
            ("approve_live", "Can approve a strategy version for live trading (real money)"),
        ]
        indexes = [
            # The scheduler's claim query: only rows that can be due are indexed.
            models.Index(
                fields=["next_run_at"],
                name="strategy_due_idx",
                condition=Q(enabled=True, running_version__isnull=False, mode__in=["paper", "live"],
                            next_run_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(polling_interval__gte=MIN_POLLING_INTERVAL, polling_interval__lte=MAX_POLLING_INTERVAL),
                name="strategy_polling_interval_in_range",
            ),
            models.CheckConstraint(condition=Q(platform__in=Platform.values), name="strategy_platform_valid"),
            models.CheckConstraint(condition=Q(mode__in=Mode.values), name="strategy_mode_valid"),
            models.CheckConstraint(condition=Q(status__in=StrategyStatus.values), name="strategy_status_valid"),
            models.CheckConstraint(condition=~Q(name=""), name="strategy_name_not_empty"),
            models.CheckConstraint(condition=~Q(thesis=""), name="strategy_thesis_not_empty"),
            # Anything past draft has code behind it.
            models.CheckConstraint(
                condition=Q(status="draft") | Q(current_version__isnull=False), name="strategy_has_version_unless_draft"
            ),
            models.CheckConstraint(
                condition=Q(runs_succeeded__lte=F("runs_total") - F("runs_failed")),
                name="strategy_run_counts_add_up",
            ),
            models.UniqueConstraint(
                fields=["owner", "name"], condition=~Q(status="archived"), name="strategy_name_unique_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def schedule_text(self) -> str:
        return schedule_text(self.polling_interval)


def schedule_text(polling_interval: int) -> str:
    """"Runs every 60 seconds", as the cards and the API say it."""
    return f"Runs every {describe_interval(polling_interval)}"


def describe_interval(seconds: int) -> str:
    """`60` → "60 seconds" (as the dashboard cards say), `7200` → "2 hours", `86400` → "day"."""
    for unit, size in (("day", 86400), ("hour", 3600)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


class StrategyVersion(models.Model):
    """One immutable snapshot of a strategy's files and config; approval is bound to it."""

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    layout = models.CharField(max_length=8, choices=Layout.choices)
    files = models.ManyToManyField(ChatFile, related_name="strategy_versions")
    config = models.JSONField()
    content_hash = models.CharField(max_length=64, help_text="sha256 over the files and the config.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_paper_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_paper_at = models.DateTimeField(null=True, blank=True)
    approved_live_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_live_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["strategy", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "number"], name="version_number_unique_per_strategy"),
            models.CheckConstraint(condition=Q(number__gte=1), name="version_number_positive"),
            models.CheckConstraint(condition=Q(content_hash__regex=r"^[0-9a-f]{64}$"), name="version_hash_is_hex"),
            models.CheckConstraint(condition=Q(layout__in=Layout.values), name="version_layout_valid"),
            models.CheckConstraint(
                condition=Q(approved_paper_by__isnull=True, approved_paper_at__isnull=True)
                | Q(approved_paper_by__isnull=False, approved_paper_at__isnull=False),
                name="version_paper_approval_complete",
            ),
            models.CheckConstraint(
                condition=Q(approved_live_by__isnull=True, approved_live_at__isnull=True)
                | Q(approved_live_by__isnull=False, approved_live_at__isnull=False, approved_paper_at__isnull=False),
                name="version_live_approval_needs_paper",
            ),
            models.CheckConstraint(
                condition=Q(rejected_by__isnull=True, rejected_at__isnull=True, rejection_reason="")
                | (Q(rejected_by__isnull=False, rejected_at__isnull=False) & ~Q(rejection_reason="")),
                name="version_rejection_has_reason",
            ),
            # A version is either rejected or approved for paper, never both.
            models.CheckConstraint(
                condition=Q(rejected_at__isnull=True) | Q(approved_paper_at__isnull=True),
                name="version_not_approved_and_rejected",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.strategy} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            frozen = {"layout", "config", "content_hash", "number", "strategy", "strategy_id"}
            update_fields = kwargs.get("update_fields")
            if update_fields is None or frozen & set(update_fields):
                raise ImmutableError("a strategy version's code and config are immutable: deploy a new version")
        super().save(*args, **kwargs)

    @property
    def is_approved_for_paper(self) -> bool:
        return self.approved_paper_at is not None

    @property
    def is_approved_for_live(self) -> bool:
        return self.approved_live_at is not None

    def source_files(self) -> dict[str, str]:
        return {chat_file.filename: chat_file.content for chat_file in self.files.order_by("filename")}


class ExecutionTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Manual"
    DRY_RUN = "dry_run", "Dry run"


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    SKIPPED = "skipped", "Skipped"


class Execution(models.Model):
    """One cycle of one strategy: what ran, when, and what came of it."""

    Trigger = ExecutionTrigger
    Status = ExecutionStatus

    ACTIVE = (Status.QUEUED, Status.RUNNING)  # a strategy with one of these is busy: no overlapping cycle

    # No index of its own: the (strategy, -scheduled_for) index below leads with it (one index fewer to write a run).
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="executions", db_index=False)
    version = models.ForeignKey(StrategyVersion, on_delete=models.PROTECT, related_name="executions")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    mode = models.CharField(max_length=8, choices=Mode.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    scheduled_for = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process that ran it")
    entries = models.PositiveIntegerField(default=0)
    exits = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    state_after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        indexes = [
            models.Index(fields=["strategy", "-scheduled_for"]),
            # The few runs not finished yet, for the recovery sweep and the reconciliation of live orders.
            models.Index(fields=["status", "scheduled_for"], condition=Q(status__in=["queued", "running"]),
                         name="execution_active"),
            # A strategy's own runs not finished yet: the claim's "previous cycle still running" and
            # `cycles_in_flight` read these alone, not every run in flight nor the strategy's history.
            models.Index(fields=["strategy", "status"], condition=Q(status__in=["queued", "running"]),
                         name="execution_active_strategy"),
        ]
        constraints = [
            # A scheduled slot runs at most once, however many beats or workers race for it.
            models.UniqueConstraint(
                fields=["strategy", "scheduled_for"], condition=Q(trigger="scheduled"), name="execution_once_per_slot"
            ),
            models.CheckConstraint(condition=Q(trigger__in=ExecutionTrigger.values), name="execution_trigger_valid"),
            models.CheckConstraint(condition=Q(status__in=ExecutionStatus.values), name="execution_status_valid"),
            models.CheckConstraint(condition=Q(mode__in=Mode.values), name="execution_mode_valid"),
            models.CheckConstraint(
                condition=~Q(status__in=["running", "succeeded", "failed", "timed_out"]) | Q(started_at__isnull=False),
                name="execution_started_when_run",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["succeeded", "failed", "timed_out", "skipped"]) | Q(finished_at__isnull=False),
                name="execution_finished_when_done",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["succeeded", "failed", "timed_out", "skipped"]) | Q(finished_at__isnull=True),
                name="execution_unfinished_while_active",
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(finished_at__gte=F("started_at")),
                name="execution_finishes_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["failed", "timed_out", "skipped"]) | ~Q(error=""),
                name="execution_failure_has_error",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.strategy} run {self.pk} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


class LogLevel(models.TextChoices):
    DEBUG = "debug", "debug"
    INFO = "info", "info"
    WARNING = "warning", "warning"
    ERROR = "error", "error"
    # Written by the worker, never by a script (the SDK refuses the level): started, signals, orders, finished.
    SYSTEM = "system", "system"


class ExecutionLog(models.Model):
    Level = LogLevel

    # No index of its own: the unique (execution, seq) leads with it (one index fewer to write a line).
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="logs", db_index=False)
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField()
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "seq"], name="execution_log_seq_unique"),
            models.CheckConstraint(condition=Q(level__in=LogLevel.values), name="execution_log_level_valid"),
        ]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message[:80]}"


class ActionKind(models.TextChoices):
    ORDER_PLACED = "order_placed", "Order placed"
    ORDER_REFUSED = "order_refused", "Order refused"
    ORDER_WOULD_PLACE = "order_would_place", "Would place order (dry run)"
    POSITION_CLOSED = "position_closed", "Position closed"
    STRATEGY_PAUSED = "strategy_paused", "Strategy paused"


class ExecutionAction(models.Model):
    """Something the cycle did or refused to do: an order placed or refused, a position closed."""

    Kind = ActionKind

    # No index of its own: the unique (execution, seq) leads with it.
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="actions", db_index=False)
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField()
    kind = models.CharField(max_length=24, choices=Kind.choices)
    message = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "seq"], name="execution_action_seq_unique"),
            models.CheckConstraint(condition=Q(kind__in=ActionKind.values), name="execution_action_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"


class BacktestCsv(models.Model):
    """A user's CSV of bars for backtests, by content hash: in the database, so a worker on any host runs it."""

    sha256 = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=255)
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.filename} ({self.sha256[:12]})"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class BacktestSource(models.TextChoices):
    CSV = "csv", "A CSV of bars"
    POLYMARKET_RECORDED = "polymarket_recorded", "Recorded Polymarket books and quotes"
    ALPACA_HISTORY = "alpaca_history", "Alpaca bars"
    POLYMARKET_HISTORY = "polymarket_history", "Polymarket prices-history"
    KALSHI_CANDLES = "kalshi_candles", "Kalshi candlesticks"


class SweepMethod(models.TextChoices):
    GRID = "grid", "Every combination"
    RANDOM = "random", "A seeded random sample"


class Sweep(models.Model):
    """One version run over many `parameters` points, each a Backtest of its own, ranked by a metric
    (docs/backtest.md#parameter-sweeps)."""

    Status = BacktestStatus
    Method = SweepMethod

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="sweeps")
    version = models.ForeignKey(StrategyVersion, on_delete=models.PROTECT, related_name="sweeps")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=6, choices=SweepMethod.choices)
    space = models.JSONField(help_text="the request's parameters: a list of values or {min, max, step} each")
    seed = models.BigIntegerField(null=True, blank=True, help_text="random: the sample's seed")
    metric = models.CharField(max_length=40, help_text="the metric the points are ranked by, higher first")
    holdout = models.FloatField(help_text="the share of the range held back as the out-of-sample tail")
    status = models.CharField(max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED)
    total = models.PositiveIntegerField(help_text="points")
    done = models.PositiveIntegerField(default=0, help_text="points finished, whatever their outcome")
    cancel_requested = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    results = models.JSONField(default=dict, help_text="ranking, trials, deflated Sharpe, out-of-sample check")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(done__lte=F("total")), name="sweep_done_within_total"),
            models.CheckConstraint(condition=Q(holdout__gte=0) & Q(holdout__lt=1), name="sweep_holdout_share"),
            models.CheckConstraint(condition=Q(status__in=BacktestStatus.values), name="sweep_status_valid"),
            models.CheckConstraint(condition=Q(method__in=SweepMethod.values), name="sweep_method_valid"),
            models.CheckConstraint(condition=~Q(status=BacktestStatus.FAILED) | ~Q(error=""),
                                   name="sweep_failed_has_error"),
        ]

    def __str__(self) -> str:
        return f"sweep {self.pk} of {self.version}"


class Backtest(models.Model):
    """One backtest run of one strategy version over one data source and range (docs/backtest.md)."""

    Status = BacktestStatus
    Source = BacktestSource

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="backtests")
    version = models.ForeignKey(StrategyVersion, on_delete=models.PROTECT, related_name="backtests")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    data_source = models.CharField(max_length=24, choices=BacktestSource.choices)
    data_spec = models.JSONField(default=dict, help_text="symbol, file sha256, recorded set, markets…")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    parameters = models.JSONField(default=dict, help_text="cash, commission, polling interval")
    status = models.CharField(max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED)
    progress = models.FloatField(default=0.0, help_text="percent of the steps done")
    eta_seconds = models.FloatField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process that ran it")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    steps = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)
    trades = models.JSONField(default=list)
    equity = models.JSONField(default=list, help_text="[[ISO time, value], …]")
    open_positions = models.JSONField(default=list)
    actions = models.JSONField(default=list, help_text="refusals, fills, settlements (capped)")
    logs = models.JSONField(default=list, help_text="the strategy's log lines (capped)")
    lookahead = models.JSONField(default=dict, help_text="the look-ahead check: signals re-run with the data cut")
    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, null=True, blank=True, related_name="points",
                              help_text="the sweep this is one point of; its parameters are in parameters.overrides")
    sweep_index = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["version", "-created_at"], name="backtest_version_latest"),
                   models.Index(fields=["sweep", "status", "sweep_index"], name="backtest_sweep_next")]
        constraints = [
            models.CheckConstraint(condition=Q(sweep__isnull=True) | Q(sweep_index__isnull=False),
                                   name="backtest_sweep_point_indexed"),
            models.UniqueConstraint(fields=["sweep", "sweep_index"], condition=Q(sweep__isnull=False),
                                    name="backtest_sweep_point_once"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=100), name="backtest_progress_pct"),
            models.CheckConstraint(condition=Q(data_source__in=BacktestSource.values), name="backtest_source_valid"),
            models.CheckConstraint(condition=Q(status__in=BacktestStatus.values), name="backtest_status_valid"),
            models.CheckConstraint(condition=~Q(status=BacktestStatus.FAILED) | ~Q(error=""),
                                   name="backtest_failed_has_error"),
            models.CheckConstraint(
                condition=Q(status__in=[BacktestStatus.QUEUED]) | Q(started_at__isnull=False)
                | Q(status=BacktestStatus.CANCELLED),
                name="backtest_started_has_time"),
            models.CheckConstraint(
                condition=~Q(status__in=[BacktestStatus.SUCCEEDED, BacktestStatus.FAILED, BacktestStatus.CANCELLED])
                | Q(finished_at__isnull=False),
                name="backtest_finished_has_time"),
            models.CheckConstraint(condition=Q(start__isnull=True) | Q(end__isnull=True) | Q(start__lt=F("end")),
                                   name="backtest_range_ordered"),
        ]

    def __str__(self) -> str:
        return f"backtest {self.pk} of {self.version}"
