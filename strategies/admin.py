"""Staff tools: the approval queue, version review, executions with their logs.

Every decision goes through strategies.services, so the admin can do nothing the rules forbid: the
strategy form is read-only (mode, enabled, paused_reason… belong to services), and each action is
offered only to a user holding its permission (the services check it again).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.db.models.expressions import Combinable
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from strategies.models import Execution, ExecutionAction, ExecutionLog, Strategy, StrategyVersion
from strategies.selectors import strategy_graduation
from strategies.services import (
    LIVE_APPROVAL,
    PAPER_APPROVAL,
    ActionRefused,
    ApprovalError,
    strategy_enable,
    strategy_pause,
    strategy_version_approve,
    strategy_version_reject,
)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def render_code(version: StrategyVersion) -> str:
    return format_html_join(
        "",
        '<h4 style="margin:1em 0 .3em">{}</h4><pre style="background:#111;color:#ddd;padding:10px;'
        'overflow:auto;max-height:40em;white-space:pre">{}</pre>',
        ((name, content) for name, content in version.source_files().items()),
    )


VERSION_INLINE_FIELDS: tuple[str, ...] = (
    "number",
    "layout",
    "content_hash",
    "created_at",
    "approved_paper_by",
    "approved_live_by",
    "rejection_reason",
)


class VersionInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = StrategyVersion
    fields = VERSION_INLINE_FIELDS
    readonly_fields = VERSION_INLINE_FIELDS
    extra = 0
    show_change_link = True


class RejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), help_text="The author reads this.")


def _decide(
    modeladmin: admin.ModelAdmin[Strategy], request: HttpRequest, queryset: QuerySet[Strategy], *, live: bool
) -> None:
    for strategy in queryset.select_related("current_version"):
        if strategy.current_version is None:
            modeladmin.message_user(request, f"{strategy.name}: nothing deployed yet", messages.ERROR)
            continue
        try:
            strategy_version_approve(version=strategy.current_version, by=request.user, live=live)  # type: ignore[arg-type]
        except ApprovalError as exc:
            modeladmin.message_user(request, f"{strategy.name}: {exc}", messages.ERROR)
        else:
            where = "live trading" if live else "paper trading"
            modeladmin.message_user(
                request, f"{strategy.name}: v{strategy.current_version.number} approved for {where}"
            )


@admin.action(description="Approve the current version for paper trading", permissions=["approve_paper"])
def approve_for_paper(
    modeladmin: admin.ModelAdmin[Strategy], request: HttpRequest, queryset: QuerySet[Strategy]
) -> None:
    _decide(modeladmin, request, queryset, live=False)


@admin.action(description="Approve the current version for live trading (after graduation)",
              permissions=["approve_live"])
def approve_for_live(
    modeladmin: admin.ModelAdmin[Strategy], request: HttpRequest, queryset: QuerySet[Strategy]
) -> None:
    _decide(modeladmin, request, queryset, live=True)


@admin.action(description="Reject the current version (with a reason)", permissions=["approve_paper"])
def reject(
    modeladmin: admin.ModelAdmin[Strategy], request: HttpRequest, queryset: QuerySet[Strategy]
) -> HttpResponse | None:
    form = RejectForm(request.POST if "reason" in request.POST else None)
    if form.is_valid():
        for strategy in queryset.select_related("current_version"):
            if strategy.current_version is None:
                continue
            try:
                strategy_version_reject(
                    version=strategy.current_version,
                    by=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                )
            except ApprovalError as exc:
                modeladmin.message_user(request, f"{strategy.name}: {exc}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{strategy.name}: v{strategy.current_version.number} rejected")
        return None
    return render(
        request,
        "admin/strategies/reject.html",
        {
            "form": form,
            "strategies": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
            "title": "Reject strategy versions",
        },
    )


@admin.action(description="Pause (stop scheduling; a running cycle finishes)", permissions=["change"])
def pause(modeladmin: admin.ModelAdmin[Strategy], request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
    for strategy in queryset:
        strategy_pause(strategy=strategy, reason=f"paused in the admin by {request.user.get_username()}")
        modeladmin.message_user(request, f"{strategy.name}: paused")


@admin.action(description="Enable (schedule again from now)", permissions=["change"])
def enable(modeladmin: admin.ModelAdmin[Strategy], request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
    for strategy in queryset:
        try:
            strategy_enable(strategy=strategy)
        except ActionRefused as exc:
            modeladmin.message_user(request, f"{strategy.name}: not enabled: {exc}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{strategy.name}: enabled")


def _figure(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


STRATEGY_ADMIN_FIELDS: tuple[str, ...] = (
    "owner",
    "name",
    "status",
    "mode",
    "enabled",
    "paused_reason",
    "description",
    "thesis",
    "platform",
    "polling_interval",
    "current_version",
    "running_version",
    "next_run_at",
    "graduation_checklist",
    "latest_backtest",
    "code_under_review",
    "config",
    "state",
    "runs_total",
    "runs_succeeded",
    "runs_failed",
    "created_at",
    "updated_at",
)


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "owner",
        "status",
        "platform",
        "mode",
        "enabled",
        "polling_interval",
        "version_number",
        "runs_total",
        "next_run_at",
    ]
    list_filter = ["status", "platform", "mode", "enabled"]
    search_fields = ["name", "owner__username", "thesis"]
    actions = [approve_for_paper, approve_for_live, reject, pause, enable]
    inlines = [VersionInline]
    readonly_fields = STRATEGY_ADMIN_FIELDS  # every field belongs to a service: change them with the actions
    fields = STRATEGY_ADMIN_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Strategy]:
        return super().get_queryset(request).select_related("owner", "current_version", "running_version")

    def get_ordering(self, request: HttpRequest) -> list[str | Combinable]:
        # An expression, not an annotation: the Order and Position admins order their strategy choices by it too.
        pending_first = Case(When(status=Strategy.Status.PENDING_APPROVAL, then=Value(0)), default=Value(1),
                             output_field=IntegerField())
        return [pending_first, "updated_at"]  # the approval queue first, the oldest request at the top

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # strategies arrive through a deploy, never typed into a form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The form of one strategy is view-only (a POST is refused with 403); "change" on the list allows
        # the Pause / Enable actions, which go through the services.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # strategies are archived, never deleted: their orders and executions reference them

    def has_approve_paper_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PAPER_APPROVAL)

    def has_approve_live_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff and request.user.has_perm(LIVE_APPROVAL)

    @admin.display(description="version")
    def version_number(self, strategy: Strategy) -> str:
        """The newest version, and the approved one that runs when it is another: approving switches to the newest."""
        current, running = strategy.current_version, strategy.running_version
        if current is None:
            return "—"
        if running is not None and running.pk != current.pk:
            return f"v{current.number} (v{running.number} runs)"
        return f"v{current.number}"

    @admin.display(description="graduation checklist (paper → live)")
    def graduation_checklist(self, strategy: Strategy) -> str:
        return format_html_join(
            "",
            "<div>{} {} <small>{}</small></div>",
            (("✅" if check.passed else "❌", check.describe(), check.uncertainty)
             for check in strategy_graduation(strategy).checks),
        )

    @admin.display(description="latest backtest of the current version")
    def latest_backtest(self, strategy: Strategy) -> str:
        version = strategy.current_version
        # newest first (Meta.ordering); a sweep's point ran other parameters than the version's own
        backtest = version.backtests.filter(sweep__isnull=True).first() if version else None
        if backtest is None:
            required = " (required for paper approval: REQUIRE_BACKTEST_FOR_PAPER)" \
                if settings.REQUIRE_BACKTEST_FOR_PAPER else ""
            return f"none yet{required}"
        metrics = backtest.metrics
        figures = ", ".join(f"{label} {_figure(metrics.get(key))}" for key, label in (
            ("return_pct", "return %"), ("sharpe", "Sharpe"), ("max_drawdown_pct", "max drawdown %"),
            ("win_rate_pct", "win rate %"), ("trades", "trades"))) if metrics else backtest.error
        url = reverse("strategies:backtests", kwargs={"strategy_id": strategy.pk})
        return format_html('<a href="{}?backtest={}">backtest {}</a>: {} ({} to {}) {}', url, backtest.pk,
                           backtest.pk, backtest.status, backtest.start or "the data's start",
                           backtest.end or "its end", figures)

    @admin.display(description="code of the current version")
    def code_under_review(self, strategy: Strategy) -> str:
        return render_code(strategy.current_version) if strategy.current_version else "—"


STRATEGY_VERSION_ADMIN_FIELDS: tuple[str, ...] = (
    "strategy",
    "number",
    "layout",
    "content_hash",
    "created_by",
    "created_at",
    "approved_paper_by",
    "approved_paper_at",
    "approved_live_by",
    "approved_live_at",
    "rejected_by",
    "rejected_at",
    "rejection_reason",
    "config",
    "code",
)


@admin.register(StrategyVersion)
class StrategyVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "__str__",
        "layout",
        "content_hash",
        "created_at",
        "approved_paper_at",
        "approved_live_at",
        "rejected_at",
    ]
    list_filter = ["layout"]
    search_fields = ["strategy__name", "content_hash"]
    fields = STRATEGY_VERSION_ADMIN_FIELDS
    readonly_fields = STRATEGY_VERSION_ADMIN_FIELDS

    @admin.display(description="code")
    def code(self, version: StrategyVersion) -> str:
        return render_code(version)


LOG_INLINE_FIELDS: tuple[str, ...] = ("seq", "ts", "level", "message")


class LogInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = ExecutionLog
    fields = LOG_INLINE_FIELDS
    readonly_fields = LOG_INLINE_FIELDS
    extra = 0


ACTION_INLINE_FIELDS: tuple[str, ...] = ("seq", "ts", "kind", "message", "payload")


class ActionInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = ExecutionAction
    fields = ACTION_INLINE_FIELDS
    readonly_fields = ACTION_INLINE_FIELDS
    extra = 0


EXECUTION_ADMIN_FIELDS: tuple[str, ...] = (
    "strategy",
    "version",
    "trigger",
    "mode",
    "status",
    "scheduled_for",
    "started_at",
    "finished_at",
    "entries",
    "exits",
    "error_text",
    "state_after",
)


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "strategy",
        "trigger",
        "mode",
        "status",
        "scheduled_for",
        "started_at",
        "duration",
        "entries",
        "exits",
    ]
    list_filter = ["status", "trigger", "mode"]
    search_fields = ["strategy__name"]
    inlines = [LogInline, ActionInline]
    fields = EXECUTION_ADMIN_FIELDS
    readonly_fields = EXECUTION_ADMIN_FIELDS

    @admin.display(description="duration")
    def duration(self, execution: Execution) -> str:
        return f"{execution.duration_ms} ms" if execution.duration_ms is not None else "—"

    @admin.display(description="error")
    def error_text(self, execution: Execution) -> str:
        return format_html("<pre>{}</pre>", execution.error) if execution.error else "—"
