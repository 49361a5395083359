"""What the API reads (input serializers) and answers (output serializers, also the OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from strategies.models import Execution, ExecutionTrigger, Mode, Strategy, StrategyStatus, schedule_text
from strategies.validation import MAX_FILE_BYTES
from trading.venues.platforms import Platform

FILENAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
MAX_FILES = 20
ID_MAX = 2**63 - 1


def iso(value: datetime) -> str:
    """A time as DRF's DateTimeField writes it (ISO 8601 in UTC, `Z`), without building a field per value:
    the list routes write a few hundred a request."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- errors --------------------------------------------------------------------------------------


class IssueSerializer(serializers.Serializer[Any]):
    file = serializers.CharField(allow_null=True, help_text="The file the problem is in (config.json, entry.py, …).")
    path = serializers.CharField(allow_null=True, help_text="JSON path in config.json, or the request field.")
    line = serializers.IntegerField(allow_null=True, help_text="Line in a Python file.")
    message = serializers.CharField(help_text="What is wrong and what would be valid.")


class ErrorDetailSerializer(serializers.Serializer[Any]):
    type = serializers.CharField(help_text=(
        "What to branch on: validation_error, parse_error, not_authenticated, authentication_failed, "
        "permission_denied, not_found, method_not_allowed, unsupported_media_type, already_running, "
        "not_runnable, conflict, name_taken, idempotency_key_reused, idempotency_in_progress, throttled, "
        "internal_error."))
    message = serializers.CharField()
    issues = IssueSerializer(many=True)


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()


# --- input ---------------------------------------------------------------------------------------


def _filename_field() -> serializers.RegexField:
    return serializers.RegexField(FILENAME_PATTERN, max_length=128, error_messages={
        "invalid": "must be a plain file name (letters, digits, _ . -), like entry.py"})


def _content_field() -> serializers.CharField:
    return serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_FILE_BYTES)


class FileCreateSerializer(serializers.Serializer[Any]):
    filename = _filename_field()
    content = _content_field()
    chat_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")


class FilesField(serializers.DictField):
    """{"entry.py": "<source>", ...}: file names checked like an uploaded file's."""

    child = _content_field()

    def to_internal_value(self, data: Any) -> dict[str, str]:
        files: dict[str, str] = super().to_internal_value(data)
        errors = {}
        name_field = _filename_field()
        for name in files:
            try:
                name_field.run_validation(name)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if len(files) > MAX_FILES:
            raise serializers.ValidationError(f"at most {MAX_FILES} files, got {len(files)}")
        if errors:
            raise serializers.ValidationError(errors)
        return files


class FileIdsField(serializers.ListField):
    child = serializers.IntegerField(min_value=1, max_value=ID_MAX)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_FILES, **kwargs)


class DeploySerializer(serializers.Serializer[Any]):
    files = FilesField(required=False, help_text="Every file of the strategy, by name.")
    file_ids = FileIdsField(required=False, help_text="Ids of files uploaded with POST /api/v1/files/.")
    chat_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    mode = serializers.ChoiceField([Mode.PAPER, Mode.BACKTEST], required=False, default=Mode.PAPER)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("files" in attrs) == ("file_ids" in attrs):
            raise serializers.ValidationError("send either files or file_ids, not both or neither")
        return attrs


class VersionCreateSerializer(serializers.Serializer[Any]):
    files = FilesField(required=False, help_text="Files that replace the current version's of the same name.")
    file_ids = FileIdsField(required=False, help_text="Uploaded files that replace those of the same name.")
    config = serializers.DictField(required=False, help_text="A whole new config.json, as an object.")
    chat_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not {"files", "file_ids", "config"} & set(attrs):
            raise serializers.ValidationError("send files, file_ids or config (or several)")
        if "files" in attrs and "file_ids" in attrs:
            raise serializers.ValidationError("send either files or file_ids, not both")
        return attrs


class PauseSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class EmptySerializer(serializers.Serializer[Any]):
    pass


class KeyLabelSerializer(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=80, allow_blank=True)  # type: ignore[assignment]


class StrategyFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(StrategyStatus.values, required=False)
    mode = serializers.ChoiceField(Mode.values, required=False)
    platform = serializers.ChoiceField(Platform.values, required=False)


class ExecutionFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(Execution.Status.values, required=False)
    trigger = serializers.ChoiceField(ExecutionTrigger.values, required=False)


class PositionFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(["open", "closed"], required=False)
    book = serializers.ChoiceField(["paper", "live"], required=False)


class OrderFilterSerializer(serializers.Serializer[Any]):
    book = serializers.ChoiceField(["paper", "live"], required=False)


class ToolsFormatSerializer(serializers.Serializer[Any]):
    format = serializers.ChoiceField(["openai", "anthropic", "mcp"], required=False, default="openai")


# --- output --------------------------------------------------------------------------------------


class FileSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    filename = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes, UTF-8.")
    chat_id = serializers.CharField()
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"id": str(instance.pk), "filename": instance.filename, "sha256": instance.sha256,
                "size": len(instance.content.encode()), "chat_id": instance.chat_id,
                "created_at": serializers.DateTimeField().to_representation(instance.created_at)}


class FileContentSerializer(FileSerializer):
    content = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {**super().to_representation(instance), "content": instance.content}


class StrategySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    thesis = serializers.CharField()
    platform = serializers.ChoiceField(Platform.values)
    status = serializers.ChoiceField(StrategyStatus.values, help_text=(
        "pending_approval: a person must approve the current version before it is scheduled; "
        "approved: scheduled while enabled; rejected: read rejection_reason on the version and deploy a fix."))
    mode = serializers.ChoiceField(Mode.values)
    enabled = serializers.BooleanField()
    paused_reason = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="The current version's number.")
    polling_interval = serializers.IntegerField(help_text="Seconds between cycles.")
    schedule = serializers.CharField()
    next_run_at = serializers.DateTimeField(allow_null=True)
    runs_total = serializers.IntegerField()
    runs_succeeded = serializers.IntegerField()
    runs_failed = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    dashboard_url = serializers.CharField()

    def to_representation(self, instance: Strategy) -> dict[str, Any]:
        row = {column: getattr(instance, column) for column in STRATEGY_VALUES if "__" not in column}
        row["current_version__number"] = instance.current_version.number if instance.current_version else None
        request = self.context.get("request")
        return strategy_row(row, request.build_absolute_uri("/strategies/") if request else "/strategies/")


# The columns a strategy's answer is made of (a list reads them with .values(): no model instance per row).
STRATEGY_VALUES = ("id", "name", "description", "thesis", "platform", "status", "mode", "enabled", "paused_reason",
                   "polling_interval", "next_run_at", "runs_total", "runs_succeeded", "runs_failed", "created_at",
                   "updated_at", "current_version__number")


def strategy_row(row: dict[str, Any], dashboard_base: str) -> dict[str, Any]:
    """StrategySerializer's answer from the STRATEGY_VALUES of one strategy."""
    return {
        "id": str(row["id"]), "name": row["name"], "description": row["description"], "thesis": row["thesis"],
        "platform": row["platform"], "status": row["status"], "mode": row["mode"], "enabled": row["enabled"],
        "paused_reason": row["paused_reason"], "version": row["current_version__number"],
        "polling_interval": row["polling_interval"], "schedule": schedule_text(row["polling_interval"]),
        "next_run_at": iso(row["next_run_at"]) if row["next_run_at"] else None,
        "runs_total": row["runs_total"], "runs_succeeded": row["runs_succeeded"], "runs_failed": row["runs_failed"],
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
        "dashboard_url": f"{dashboard_base}#strategy-{row['id']}",
    }


class LogLineSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    ts = serializers.DateTimeField()
    level = serializers.CharField()
    message = serializers.CharField()


class ActionSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    ts = serializers.DateTimeField()
    kind = serializers.CharField(help_text="order_placed, order_refused, order_would_place (a dry run), "
                                           "position_closed, strategy_paused.")
    message = serializers.CharField()
    payload = serializers.DictField()


class ExecutionSummarySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    strategy_id = serializers.CharField()
    version = serializers.IntegerField()
    trigger = serializers.ChoiceField(ExecutionTrigger.values)
    mode = serializers.ChoiceField(Mode.values)
    status = serializers.ChoiceField(Execution.Status.values)
    scheduled_for = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    entries = serializers.IntegerField()
    exits = serializers.IntegerField()
    error = serializers.CharField(allow_null=True, help_text="Why it failed, with the script's own traceback.")

    def to_representation(self, instance: Execution) -> dict[str, Any]:
        when = iso
        return {
            "id": str(instance.pk), "strategy_id": str(instance.strategy_id), "version": instance.version.number,
            "trigger": instance.trigger, "mode": instance.mode, "status": instance.status,
            "scheduled_for": when(instance.scheduled_for),
            "started_at": when(instance.started_at) if instance.started_at else None,
            "finished_at": when(instance.finished_at) if instance.finished_at else None,
            "duration_ms": instance.duration_ms, "entries": instance.entries, "exits": instance.exits,
            "error": instance.error or None,
        }


class ExecutionSerializer(ExecutionSummarySerializer):
    logs = LogLineSerializer(many=True)
    actions = ActionSerializer(many=True)
    state_after = serializers.DictField(allow_null=True, help_text="ctx.state as the cycle left it.")

    def to_representation(self, instance: Execution) -> dict[str, Any]:
        when = iso
        return {
            **super().to_representation(instance),
            "logs": [{"seq": line.seq, "ts": when(line.ts), "level": line.level, "message": line.message}
                     for line in instance.logs.order_by("seq")],
            "actions": [{"seq": a.seq, "ts": when(a.ts), "kind": a.kind, "message": a.message, "payload": a.payload}
                        for a in instance.actions.order_by("seq")],
            "state_after": instance.state_after if isinstance(instance.state_after, dict) else None,
        }


class SmokeSerializer(serializers.Serializer[Any]):
    status = serializers.CharField(help_text="succeeded, failed, timed_out, or not_started (no sandbox).")
    execution_id = serializers.CharField(allow_null=True)
    logs = LogLineSerializer(many=True)
    actions = ActionSerializer(many=True)
    error = serializers.CharField(allow_null=True)


class DeployedStrategySerializer(StrategySerializer):
    created = serializers.BooleanField(help_text="false when the same files were deployed before: same version.")
    smoke = SmokeSerializer(help_text="One dry-run cycle of the new version in the sandbox: nothing was sent.")


class VersionFileSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    filename = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()


class VersionFileContentSerializer(VersionFileSerializer):
    content = serializers.CharField()


class VersionSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    layout = serializers.CharField()
    content_hash = serializers.CharField()
    approval = serializers.ChoiceField(["pending", "approved_paper", "approved_live", "rejected"])
    rejection_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    approved_paper_at = serializers.DateTimeField(allow_null=True)
    approved_live_at = serializers.DateTimeField(allow_null=True)
    is_current = serializers.BooleanField()
    files = VersionFileSerializer(many=True)


class VersionDetailSerializer(VersionSerializer):
    config = serializers.DictField()
    files = VersionFileContentSerializer(many=True)


class FileDiffSerializer(serializers.Serializer[Any]):
    filename = serializers.CharField()
    change = serializers.ChoiceField(["added", "removed", "modified"])
    diff = serializers.CharField(help_text="A unified diff (difflib), `a/` the older version, `b/` the newer.")


class VersionDiffSerializer(serializers.Serializer[Any]):
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    files = FileDiffSerializer(many=True, help_text="Only the files that differ.")


class RunQueuedSerializer(serializers.Serializer[Any]):
    execution_id = serializers.CharField()
    status = serializers.CharField()
    execution_url = serializers.CharField()


class FillSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    price = serializers.DecimalField(max_digits=20, decimal_places=6)
    fee_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    filled_at = serializers.DateTimeField()


class OrderSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    execution_id = serializers.CharField()
    book = serializers.CharField()
    venue = serializers.CharField()
    market_id = serializers.CharField()
    market_name = serializers.CharField()
    side = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    client_order_id = serializers.CharField()
    venue_order_id = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    filled_quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    limit_price = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    notional_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    reject_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    fills = FillSerializer(many=True)


class PositionSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    book = serializers.CharField()
    venue = serializers.CharField()
    market_id = serializers.CharField()
    market_name = serializers.CharField()
    side = serializers.CharField()
    status = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    cost_basis_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    current_price = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    unrealized_pnl_usd = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    realized_pnl_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    fees_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class EquityPointSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    equity_usd = serializers.CharField()


class BookPerformanceSerializer(serializers.Serializer[Any]):
    book = serializers.CharField()
    total_capital_usd = serializers.CharField()
    realized_pnl_usd = serializers.CharField()
    unrealized_pnl_usd = serializers.CharField()
    total_pnl_usd = serializers.CharField()
    pnl_today_usd = serializers.CharField()
    deployed_usd = serializers.CharField()
    available_usd = serializers.CharField()
    open_positions = serializers.IntegerField()
    closed_trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    win_rate = serializers.CharField(allow_null=True, help_text="wins / closed trades, 0..1; null with no trade.")
    max_drawdown = serializers.CharField(help_text="Largest fall from a peak of equity, as a fraction of the peak.")
    equity = EquityPointSerializer(many=True, help_text="Equity after each closed trade, from the allocation.")


class PerformanceSerializer(serializers.Serializer[Any]):
    strategy_id = serializers.CharField()
    books = BookPerformanceSerializer(many=True)


class GraduationCheckSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    required = serializers.CharField()  # type: ignore[assignment]
    actual = serializers.CharField()
    passed = serializers.BooleanField()


class GraduationSerializer(serializers.Serializer[Any]):
    strategy_id = serializers.CharField()
    passed = serializers.BooleanField(help_text="All checks pass: a staff member may then approve it for live.")
    checks = GraduationCheckSerializer(many=True)


class ApiKeySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's public start, shk_<prefix>_…; the secret is never shown.")
    label = serializers.CharField()  # type: ignore[assignment]
    scope = serializers.ChoiceField(["agent", "read"])
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    current = serializers.BooleanField(help_text="The key this request was made with.")


class ToolsSerializer(serializers.Serializer[Any]):
    format = serializers.CharField()
    tools = serializers.ListField(child=serializers.DictField())


# --- backtests -------------------------------------------------------------------------------------


class BacktestCreateSerializer(serializers.Serializer[Any]):
    """Every field optional: the range defaults to the data's own, cash to the config's total_capital."""

    start = serializers.DateTimeField(required=False, help_text="ISO 8601; the first step at or after it.")
    end = serializers.DateTimeField(required=False, help_text="ISO 8601; no data at or after it is read.")
    cash = serializers.DecimalField(max_digits=20, decimal_places=2, required=False,
                                    min_value=Decimal("0.01"), help_text="USD; replaces capital.total_capital.")
    data_source = serializers.ChoiceField(
        choices=["polymarket_recorded", "polymarket_history", "kalshi_candles", "alpaca_history"], required=False,
        help_text="The venue data: default the platform's (polymarket_recorded, kalshi_candles, alpaca_history).")
    markets = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, min_length=1, max_length=20,
        help_text="Symbols, Kalshi tickers or Polymarket condition ids / slugs; default the strategy's parameters.")
    interval = serializers.IntegerField(
        required=False, min_value=1, max_value=1440,
        help_text="Minutes between points: prices-history fidelity, or a Kalshi candle period (1, 60, 1440).")
    half_spread = serializers.DecimalField(
        max_digits=6, decimal_places=4, required=False, min_value=Decimal(0), max_value=Decimal("0.4999"),
        help_text="polymarket_history: bid and ask this far either side of each price (default 0.01).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"end": f"end must be after start ({start.isoformat()})"})
        return attrs


class BacktestQueuedSerializer(serializers.Serializer[Any]):
    backtest_id = serializers.CharField()
    status = serializers.CharField()
    backtest_url = serializers.CharField()


class BacktestTradeSerializer(serializers.Serializer[Any]):
    market_id = serializers.CharField()
    side = serializers.CharField()
    entry_time = serializers.CharField()
    exit_time = serializers.CharField(allow_null=True)
    entry_price = serializers.CharField()
    exit_price = serializers.CharField(allow_null=True)
    quantity = serializers.CharField()
    pnl = serializers.CharField(help_text="USD, net of both legs' fees.")
    fees = serializers.CharField()


class BacktestSummarySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    strategy_id = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(["queued", "running", "succeeded", "failed", "cancelled"])
    progress = serializers.FloatField(help_text="Percent of the steps done.")
    eta_seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    data_source = serializers.CharField()
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    cash = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    metrics = serializers.DictField(help_text="Empty until it succeeds.")


class BacktestSerializer(BacktestSummarySerializer):
    trades = BacktestTradeSerializer(many=True)
    equity = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="[[ISO time, USD], ...]")
    open_positions = serializers.ListField(child=serializers.DictField())
    lookahead = serializers.DictField(help_text="Signals re-run with the data cut after them; empty if not run.")


# --- webhooks --------------------------------------------------------------------------------------


def _events_field(**kwargs: Any) -> serializers.ListField:
    from webhooks.models import SUBSCRIBABLE

    return serializers.ListField(child=serializers.ChoiceField(SUBSCRIBABLE), min_length=1,
                                 max_length=len(SUBSCRIBABLE) * 2, help_text=(
                                     "The event types to send here: " + ", ".join(SUBSCRIBABLE) + "."), **kwargs)


class WebhookCreateSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000, help_text="http(s) URL StrategyHub POSTs each event to.")
    events = _events_field()
    description = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class WebhookUpdateSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000, required=False)
    events = _events_field(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    enabled = serializers.BooleanField(required=False, help_text="false: no event is recorded for it.")


class WebhookSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(allow_null=True, help_text="The signing secret (whsec_…): shown in this answer "
                                   "only; keep it. null when the answer is an Idempotency-Key replay.")
    secret_note = serializers.CharField(required=False, help_text="On a replay only: why `secret` is null.")


class WebhookDeliverySerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text="The StrategyHub-Delivery header: drop an id you have already handled.")
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.ChoiceField(["pending", "delivered", "failed"])
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True, help_text="The receiver's last HTTP status.")
    last_error = serializers.CharField(allow_null=True, help_text="Why the last attempt failed.")
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.DictField(help_text="The body sent: {id, type, created_at, data}.")
