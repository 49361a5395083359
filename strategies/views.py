"""The server-rendered /strategies dashboard: cards on the left, a strategy's details in tabs on the right.

Users only ever see their own strategies (404 otherwise). Actions call the services and answer with the
card fragment, which htmx swaps in place; without JavaScript they redirect back to the page.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound

from accounts.models import ApiKey
from accounts.services import ApiKeyLimit, api_key_issue, api_key_revoke
from strategies.backtests import (
    SWEEP_METRICS,
    BacktestData,
    BacktestInvalid,
    SweepInvalid,
    backtest_start,
    data_words,
    default_data,
    sweep_json,
    sweep_start,
)
from strategies.cycle.run import CycleNotStarted, positions_close
from strategies.events import execution_event, run_words
from strategies.market_words import Words
from strategies.models import Backtest, Execution, ExecutionLog, Mode, Strategy, StrategyVersion, Sweep
from strategies.rules import strategy_not_runnable_reason
from strategies.selectors import (
    GRADUATION_EXPLAINED,
    calibration_words,
    execution_for_strategy,
    execution_history,
    newer_version_note,
    portfolio_summary,
    recent_runs,
    review_queue_count,
    strategies_pnl,
    strategy_badge,
    strategy_book,
    strategy_cards,
    strategy_for_user,
    strategy_graduation,
    strategy_open_positions,
    strategy_performance,
    strategy_recent_orders,
    strategy_scheduled,
    strategy_versions,
)
from strategies.services import (
    ActionRefused,
    strategy_deploy,
    strategy_enable,
    strategy_pause,
    test_run_slot_take,
)
from strategies.tasks import backtest_run, sweep_lane
from strategies.templatetags.dashboard import every, number, usd
from strategies.validation import StrategyInvalid, ValidationIssue
from trading.backtest.data import DataError
from trading.venues.errors import VenueError
from trading.venues.platforms import Platform

ACTIVITY_RUNS = 5
TABS = [("overview", "Overview"), ("history", "Execution History"), ("live", "Live Activity"),
        ("versions", "Versions"), ("backtests", "Backtests")]
STATUS_FILTERS = [("active", "Active"), ("paused", "Paused"), ("pending", "Pending approval"),
                  ("rejected", "Rejected"), ("live_approval", "Needs live approval")]
TEST_RUN_QUEUED = "Test run queued: nothing is sent to the venue. Watch it in Live Activity."
PLATFORM_LABELS = dict(Platform.choices)
UPLOAD_MAX_BYTES = 256 * 1024  # per file; strategies are a few kilobytes of Python and JSON


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _own(request: HttpRequest, strategy_id: int) -> Strategy:
    strategy = strategy_for_user(_user(request), strategy_id)
    if strategy is None:
        raise Http404("no such strategy")
    return strategy


def _filters(request: HttpRequest) -> dict[str, str]:
    return {
        "mode": request.GET.get("mode", "") if request.GET.get("mode", "") in Mode.values else "",
        "status": request.GET.get("status", "") if request.GET.get("status", "") in dict(STATUS_FILTERS) else "",
        "venue": request.GET.get("venue", "") if request.GET.get("venue", "") in Platform.values else "",
    }


def card_context(strategy: Strategy, root: str = "", current: int | None = None,
                 pnl: Decimal | None = None) -> dict[str, Any]:
    """Everything one card shows, as plain strings computed here rather than in the template: the list
    renders up to hundreds of cards, and every template lookup, filter and {% url %} adds up (no query).
    `pnl`: its P&L on its mode's book, marked to market (`strategies_pnl`), when it has a deployed version."""
    sid = str(strategy.pk)
    badge = strategy_badge(strategy)
    scheduled = strategy_scheduled(strategy)
    prefix = {"paused": "Paused: ", "rejected": "Rejected: "}.get(badge.key, "")
    return {
        "sid": sid, "name": strategy.name, "current": strategy.pk == current,
        "base": f"{root or reverse('strategies:list')}{sid}/",
        "mode": strategy.mode, "mode_label": Mode(strategy.mode).label,
        "platform_label": PLATFORM_LABELS.get(strategy.platform, strategy.platform),
        "badge_key": badge.key, "badge_label": badge.label, "note": f"{prefix}{badge.detail}" if badge.detail else "",
        "summary": Truncator(strategy.description or strategy.thesis).chars(160),
        "schedule": every(strategy.polling_interval), "interval": str(strategy.polling_interval),
        "next_iso": strategy.next_run_at.isoformat() if scheduled and strategy.next_run_at else "",
        "next_run_at": strategy.next_run_at,
        "runs": str(strategy.runs_total), "succeeded": str(strategy.runs_succeeded),
        "failed": str(strategy.runs_failed),
        "deployed": strategy.current_version_id is not None,
        "toggle": "pause" if strategy.enabled else "enable", "toggle_label": "Pause" if strategy.enabled else "Enable",
        "pnl": "" if pnl is None else usd(pnl), "pnl_tone": "" if not pnl else "ok" if pnl > 0 else "bad",
        "pnl_book": "live" if strategy.mode == Mode.LIVE else "paper",
    }


def detail_context(strategy: Strategy) -> dict[str, Any]:
    """The selected strategy, its badge, whether it is scheduled and what became of a version newer than the one
    that runs, for the details panel."""
    return {"strategy": strategy, "badge": strategy_badge(strategy), "scheduled": strategy_scheduled(strategy),
            "newer_version": newer_version_note(strategy)}


def _page(request: HttpRequest, template: str, selected: Strategy | None, tab: str, **context: Any) -> HttpResponse:
    user = _user(request)
    filters = _filters(request)
    root = reverse("strategies:list")
    current = selected.pk if selected is not None else None
    strategies = strategy_cards(user, **filters)
    pnl = strategies_pnl(strategies)
    cards = [card_context(strategy, root, current, pnl.get(strategy.pk)) for strategy in strategies]
    query = "&".join(f"{name}={value}" for name, value in filters.items() if value)
    context.update(
        cards=cards, selected=selected, tab=tab, tabs=TABS, filters=filters, filter_query=query,
        modes=Mode.choices, venues=Platform.choices, statuses=STATUS_FILTERS,
        review_queue=review_queue_count() if user.is_staff else None,
    )
    if selected is not None:
        context.update(detail_context(selected))
    return render(request, template, context)


@login_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    return _page(request, "strategies/dashboard.html", None, "")


@login_required
@require_GET
def strategy_portfolio(request: HttpRequest) -> HttpResponse:
    """The portfolio summary at the top of /strategies/, loaded after the page (its figures cost a few queries
    per strategy with trades; the cards' page stays at a fixed number of queries)."""
    return render(request, "strategies/partials/_portfolio.html",
                  {"portfolio": portfolio_summary(_user(request), now=timezone.now())})


@login_required
@require_GET
def strategy_overview(request: HttpRequest, strategy_id: int) -> HttpResponse:
    strategy = _own(request, strategy_id)
    now = timezone.now()
    books = strategy_performance(strategy, now=now)
    version = strategy.current_version
    graduation = strategy_graduation(strategy) if strategy.config else None
    ready_for_live = (graduation is not None and graduation.passed and version is not None
                      and version.is_approved_for_paper and not version.is_approved_for_live)
    upcoming = []
    if strategy_scheduled(strategy) and strategy.next_run_at is not None:
        upcoming = [strategy.next_run_at + timedelta(seconds=strategy.polling_interval * k) for k in range(3)]
    charts = {book.book: [{"time": int(point.at.timestamp()), "value": float(point.equity_usd)}
                          for point in book.record.equity] for book in books}
    return _page(
        request, "strategies/overview.html", strategy, "overview",
        books=books, graduation=graduation, ready_for_live=ready_for_live, runs=recent_runs(strategy),
        upcoming=upcoming, positions=strategy_open_positions(strategy), orders=strategy_recent_orders(strategy),
        charts=charts, capital=strategy.config.get("capital", {}), risk=strategy.config.get("risk_limits", {}),
        graduation_explained=GRADUATION_EXPLAINED, book_now=strategy_book(strategy),
        calibration=calibration_words(graduation.statistics.calibration if graduation and graduation.statistics
                                      else None),
    )


@login_required
@require_http_methods(["GET", "POST"])
def strategy_positions_close(request: HttpRequest, strategy_id: int) -> HttpResponse:
    """Close one position (`?position=<id>`) or all of them (`?all=1`) through the desk: GET asks to confirm,
    POST with `confirm` closes and shows the run that did it (its lines name who asked: the audit trail)."""
    strategy = _own(request, strategy_id)
    source = request.POST if request.method == "POST" else request.GET
    close_all = source.get("all") == "1"
    wanted = source.get("position", "")
    open_rows = strategy_open_positions(strategy)
    book = strategy_book(strategy)
    rows = [row for row in open_rows if row.position.book == book
            and (close_all or str(row.position.pk) == wanted)]
    error = ""
    if request.method == "POST" and source.get("confirm") == "yes" and rows:
        try:
            execution = positions_close(strategy_id=strategy.pk, by=_user(request).get_username(),
                                        position_ids=None if close_all else [row.position.pk for row in rows])
        except CycleNotStarted as refused:
            error = str(refused)
        else:
            return HttpResponseRedirect(reverse("strategies:run", args=[strategy.pk, execution.pk]))
    return _page(request, "strategies/close.html", strategy, "overview", rows=rows, close_all=close_all,
                 wanted=wanted, book=book, error=error)


@login_required
@require_GET
def strategy_history(request: HttpRequest, strategy_id: int) -> HttpResponse:
    strategy = _own(request, strategy_id)
    trigger, status = request.GET.get("trigger", ""), request.GET.get("run_status", "")
    search, level = request.GET.get("q", "").strip()[:200], request.GET.get("level", "")
    page = execution_history(strategy, cursor=request.GET.get("before", ""), trigger=trigger, status=status,
                             search=search, level=level)
    context = {"strategy": strategy, "page": page, "trigger": trigger, "run_status": status, "q": search,
               "level": level if level in ExecutionLog.Level.values else "", "levels": ExecutionLog.Level.choices,
               "triggers": Execution.Trigger.choices, "run_statuses": Execution.Status.choices,
               "more_query": urlencode({key: value for key, value in (("trigger", trigger), ("run_status", status),
                                                                     ("q", search), ("level", level)) if value})}
    if request.headers.get("HX-Request") and request.GET.get("before"):
        return render(request, "strategies/partials/_history_rows.html", context)
    return _page(request, "strategies/history.html", strategy, "history", **context)


@login_required
@require_GET
def execution_detail(request: HttpRequest, strategy_id: int, execution_id: int) -> HttpResponse:
    """A run's permalink: the history tab with this run open; its body alone for htmx."""
    strategy = _own(request, strategy_id)
    run = execution_for_strategy(strategy, execution_id)
    if run is None:
        raise Http404("no such run")
    shown = _run_rows(run)
    if request.headers.get("HX-Request"):
        return render(request, "strategies/partials/_run_body.html", {"strategy": strategy, "run": run, **shown})
    return _page(request, "strategies/run.html", strategy, "history", run=run, **shown)


def _run_rows(run: Execution) -> dict[str, list[tuple[Any, Words]]]:
    """The run's actions and log lines as shown: market names where the rows name token ids."""
    actions, logs = list(run.actions.all()), list(run.logs.all())
    log_words, action_words = run_words(run.strategy_id, logs, actions)
    return {"run_actions": list(zip(actions, action_words, strict=True)),
            "run_logs": list(zip(logs, log_words, strict=True))}


@login_required
@require_GET
def strategy_live(request: HttpRequest, strategy_id: int) -> HttpResponse:
    strategy = _own(request, strategy_id)
    return _page(request, "strategies/live.html", strategy, "live", has_runs=strategy.executions.exists(),
                 levels=ExecutionLog.Level.choices)


@login_required
@require_GET
def strategy_status(request: HttpRequest, strategy_id: int) -> HttpResponse:
    """The live tab's status strip (running / paused, next run), re-read after each run the socket reports."""
    strategy = _own(request, strategy_id)
    return render(request, "strategies/partials/_status.html", detail_context(strategy))


def _highlighted(filename: str, content: str) -> str:
    try:
        lexer = get_lexer_for_filename(filename)
    except ClassNotFound:
        lexer = get_lexer_for_filename("file.txt")
    return str(highlight(content, lexer, HtmlFormatter(cssclass="code", linenos="inline")))


def _diff(old: StrategyVersion, new: StrategyVersion) -> list[dict[str, Any]]:
    """Per file, the unified diff from `old` to `new`, lines tagged for colour."""
    before = {chat_file.filename: chat_file.content for chat_file in old.files.all()}
    after = {chat_file.filename: chat_file.content for chat_file in new.files.all()}
    files = []
    for name in sorted(before.keys() | after.keys()):
        lines = list(difflib.unified_diff(before.get(name, "").splitlines(), after.get(name, "").splitlines(),
                                          f"v{old.number}/{name}", f"v{new.number}/{name}", lineterm=""))
        tagged = [{"text": line, "kind": "hunk" if line.startswith("@@") else
                   "meta" if line.startswith(("---", "+++")) else
                   "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx"} for line in lines]
        files.append({"name": name, "lines": tagged, "same": not lines})
    return files


@login_required
@require_GET
def strategy_versions_tab(request: HttpRequest, strategy_id: int) -> HttpResponse:
    strategy = _own(request, strategy_id)
    versions = strategy_versions(strategy)
    by_number = {version.number: version for version in versions}
    shown = by_number.get(_int(request.GET.get("v")) or 0) or (versions[0] if versions else None)
    files = [{"name": chat_file.filename, "html": _highlighted(chat_file.filename, chat_file.content)}
             for chat_file in (shown.files.all() if shown else [])]
    old, new = by_number.get(_int(request.GET.get("a")) or 0), by_number.get(_int(request.GET.get("b")) or 0)
    if old is None and new is None and len(versions) >= 2:
        old, new = versions[1], versions[0]
    diff = _diff(old, new) if old is not None and new is not None else None
    return _page(request, "strategies/versions.html", strategy, "versions", versions=versions, shown=shown,
                 files=files, old=old, new=new, diff=diff)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


BACKTESTS_LISTED = 20


@login_required
@require_GET
def strategy_backtests(request: HttpRequest, strategy_id: int) -> HttpResponse:
    strategy = _own(request, strategy_id)
    return _backtests_page(request, strategy)


def _backtests_page(request: HttpRequest, strategy: Strategy, *, form_error: str = "",
                    form: dict[str, str] | None = None, code: int = 200, sweep_error: str = "",
                    sweep_form: dict[str, str] | None = None) -> HttpResponse:
    """Past backtests, and one of them (?backtest=ID, else the newest) with its progress or results."""
    listed = list(strategy.backtests.filter(sweep__isnull=True).select_related("version").defer(
        "trades", "equity", "actions", "logs", "open_positions", "lookahead")[:BACKTESTS_LISTED])
    wanted = _int(request.GET.get("backtest"))
    shown = (strategy.backtests.select_related("version").filter(pk=wanted).first() if wanted
             else strategy.backtests.filter(sweep__isnull=True).select_related("version").first())
    charts = backtest_charts(shown) if shown is not None and shown.status == Backtest.Status.SUCCEEDED else None
    sweeps = list(strategy.sweeps.select_related("version").defer("results")[:BACKTESTS_LISTED])
    wanted_sweep = _int(request.GET.get("sweep"))
    sweep = strategy.sweeps.select_related("version").filter(pk=wanted_sweep).first() if wanted_sweep else None
    declared = (strategy.current_version.config.get("parameters") or {}) if strategy.current_version else {}
    latest = strategy.versions.order_by("-number").first()
    try:
        over = data_words(default_data(latest.config, None)) if latest is not None else ""
    except BacktestInvalid:
        over = ""
    response = _page(request, "strategies/backtests.html", strategy, "backtests", backtests=listed, shown=shown,
                     data_words=over,
                     charts=charts, form_error=form_error, form=form or {}, sweeps=sweeps,
                     sweep=_sweep_context(sweep) if sweep is not None else None, sweep_form=sweep_form or {
                         "parameters": _sweep_example(declared), "metric": "sharpe", "holdout": "0.25"},
                     sweep_error=sweep_error, sweep_metrics=SWEEP_METRICS,
                     sweep_max_points=settings.SWEEP_MAX_POINTS)
    response.status_code = code
    return response


def _sweep_example(declared: dict[str, Any]) -> str:
    """A starting space for the form: each numeric parameter of the config at half, once and twice its value."""
    space = {name: [value // 2 or 1, value, value * 2] if isinstance(value, int) else [value / 2, value, value * 2]
             for name, value in declared.items()
             if isinstance(value, int | float) and not isinstance(value, bool) and value > 0}
    return json.dumps(dict(list(space.items())[:2]))


def _sweep_context(sweep: Sweep) -> dict[str, Any]:
    shaped = sweep_json(sweep, detail=True)
    shaped["open"] = sweep.status in (Sweep.Status.QUEUED, Sweep.Status.RUNNING)
    shaped["pk"] = sweep.pk
    shaped["strategy_pk"] = sweep.strategy_id
    shaped["ranking"] = [{**row, "parameters_text": _compact(row["parameters"])}
                         for row in shaped["ranking"][:SWEEP_RANKING_SHOWN]]
    shaped["parameters_text"] = _compact(sweep.space)
    shaped["holdout_pct"] = round(sweep.holdout * 100)
    deflated = shaped.get("deflated_sharpe") or {}
    shaped["luck"] = deflated.get("deflated_sharpe") is not None and deflated["deflated_sharpe"] < DSR_CONFIDENT
    return shaped


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


DSR_CONFIDENT = 0.95  # below it, the best of the sweep is not told apart from the luckiest of its trials


SWEEP_RANKING_SHOWN = 25


@login_required
@require_GET
def strategy_sweep(request: HttpRequest, strategy_id: int, sweep_id: int) -> HttpResponse:
    """One sweep's section: its progress while it runs (the page polls it), then the ranking."""
    strategy = _own(request, strategy_id)
    sweep = strategy.sweeps.select_related("version").filter(pk=sweep_id).first()
    if sweep is None:
        raise Http404("no such sweep")
    response = render(request, "strategies/partials/_sweep.html", {"sweep": _sweep_context(sweep)})
    if request.headers.get("HX-Request") and sweep.status not in (Sweep.Status.QUEUED, Sweep.Status.RUNNING):
        response["HX-Refresh"] = "true"  # finished while polled: reload, so the lists beside it are current too
    return response


@login_required
@require_POST
def strategy_sweep_start(request: HttpRequest, strategy_id: int) -> HttpResponse:
    """Start a parameter sweep of the latest version through sweep_start, the API's own door."""
    strategy = _own(request, strategy_id)
    form = {name: request.POST.get(name, "").strip()
            for name in ("parameters", "method", "samples", "seed", "metric", "holdout", "cash")}
    version = strategy.versions.order_by("-number").first()
    try:
        try:
            space = json.loads(form["parameters"] or "{}")
        except json.JSONDecodeError as error:
            raise SweepInvalid(f"parameters: not JSON ({error})") from None
        numbers = {name: _form_number(form[name], name, int) for name in ("samples", "seed")}
        holdout = _form_number(form["holdout"], "holdout", float)
        if version is None:
            raise BacktestInvalid("this strategy has no version to backtest")
        sweep = sweep_start(enqueue=sweep_lane, version=version, created_by=_user(request),
                            data=default_data(version.config, None), parameters=space,
                            method=form["method"] or Sweep.Method.GRID, samples=numbers["samples"],
                            seed=numbers["seed"], metric=form["metric"] or "sharpe",
                            holdout=0.25 if holdout is None else holdout, cash=_form_cash(form["cash"]))
    except BacktestInvalid as error:
        return _backtests_page(request, strategy, sweep_error=str(error), sweep_form=form, code=error.status)
    url = reverse("strategies:backtests", kwargs={"strategy_id": strategy.pk})
    return HttpResponseRedirect(f"{url}?sweep={sweep.pk}")


def _form_number(value: str, name: str, kind: type[int] | type[float]) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise SweepInvalid(f"{name} must be a {'whole ' if kind is int else ''}number, got {value!r}") from None


@login_required
@require_POST
def strategy_backtest_start(request: HttpRequest, strategy_id: int) -> HttpResponse:
    """Start a backtest of the latest version through backtest_start, the API's own door."""
    strategy = _own(request, strategy_id)
    form = {name: request.POST.get(name, "").strip() for name in ("start", "end", "cash")}
    version = strategy.versions.order_by("-number").first()
    try:
        start, end = _form_day(form["start"], "start"), _form_day(form["end"], "end")
        cash = _form_cash(form["cash"])
        if version is None:
            raise BacktestInvalid("this strategy has no version to backtest")
        backtest = backtest_start(enqueue=backtest_run.delay, version=version, created_by=_user(request),
                                  data=default_data(version.config, None), start=start, end=end, cash=cash)
    except BacktestInvalid as error:
        return _backtests_page(request, strategy, form_error=str(error), form=form, code=error.status)
    url = reverse("strategies:backtests", kwargs={"strategy_id": strategy.pk})
    return HttpResponseRedirect(f"{url}?backtest={backtest.pk}")


def _form_day(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BacktestInvalid(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _form_cash(value: str) -> Decimal | None:
    if not value:
        return None
    try:
        cash = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise BacktestInvalid(f"cash must be an amount in USD, got {value!r}") from None
    if not cash.is_finite() or cash <= 0:
        raise BacktestInvalid(f"cash must be > 0 USD, got {value}")
    return cash.quantize(Decimal("0.01"))


@login_required
@require_GET
def strategy_activity(request: HttpRequest, strategy_id: int) -> JsonResponse:
    """The last runs with their log lines, oldest first, in the websocket's event shape: the history a
    page loads before it follows `ws/strategies/<id>/` (and again after a reconnect)."""
    strategy = _own(request, strategy_id)
    runs = list(strategy.executions.order_by("-scheduled_for", "-id")[:ACTIVITY_RUNS]
                .prefetch_related("logs", "actions"))
    return JsonResponse({"executions": [
        execution_event(run, sorted(run.logs.all(), key=lambda line: line.seq),
                        sorted(run.actions.all(), key=lambda action: action.seq))
        for run in reversed(runs)
    ]})


# --- Actions: pause, enable, test run. Each answers with the card, re-read after the service.

def _card_response(request: HttpRequest, strategy: Strategy, *, message: str = "", error: str = "") -> HttpResponse:
    if not request.headers.get("HX-Request"):
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            back = reverse("strategies:overview", args=[strategy.pk])  # never a redirect off this site
        return HttpResponseRedirect(back)
    strategy = _own(request, strategy.pk)
    current = strategy.pk if request.POST.get("current") == str(strategy.pk) else None
    context = {"c": card_context(strategy, current=current, pnl=strategies_pnl([strategy]).get(strategy.pk)),
               "message": message, "error": error,
               "test_run": message == TEST_RUN_QUEUED}
    response = render(request, "strategies/partials/_card.html", context)
    response["HX-Trigger"] = "strategy-changed"
    return response


def _action(request: HttpRequest, strategy_id: int, act: Callable[[Strategy], str]) -> HttpResponse:
    strategy = _own(request, strategy_id)
    try:
        message = act(strategy)
    except (ActionRefused, ValueError) as refused:
        return _card_response(request, strategy, error=str(refused))
    return _card_response(request, strategy, message=message)


@login_required
@require_POST
def strategy_pause_view(request: HttpRequest, strategy_id: int) -> HttpResponse:
    def pause(strategy: Strategy) -> str:
        strategy_pause(strategy=strategy, reason="paused from the dashboard")
        return "Paused: no new runs are scheduled."

    return _action(request, strategy_id, pause)


@login_required
@require_POST
def strategy_enable_view(request: HttpRequest, strategy_id: int) -> HttpResponse:
    def enable(strategy: Strategy) -> str:
        strategy_enable(strategy=strategy)
        return "Enabled."

    return _action(request, strategy_id, enable)


@login_required
@require_POST
def strategy_test_run_view(request: HttpRequest, strategy_id: int) -> HttpResponse:
    """Queue a dry run on a worker; its lines stream into Live Activity while the page stays responsive."""
    from strategies.tasks import strategy_cycle

    def test_run(strategy: Strategy) -> str:
        reason = strategy_not_runnable_reason(strategy, dry_run=True)
        if reason:
            raise ActionRefused(reason)
        slot = test_run_slot_take(user=_user(request))  # at most TEST_RUNS_IN_FLIGHT_PER_USER at once
        transaction.on_commit(lambda: strategy_cycle.delay(strategy.pk, Execution.Trigger.MANUAL, True, slot))
        return TEST_RUN_QUEUED

    return _action(request, strategy_id, test_run)


# --- Create New: how to ask an agent, API keys, an upload form.

def _new_page(request: HttpRequest, **context: Any) -> HttpResponse:
    keys = ApiKey.objects.filter(user=_user(request)).order_by("-created_at")
    return _page(request, "strategies/new.html", None, "", keys=keys, max_kb=UPLOAD_MAX_BYTES // 1024, **context)


@login_required
@require_GET
def strategy_new(request: HttpRequest) -> HttpResponse:
    return _new_page(request)


@login_required
@require_POST
def api_key_create_view(request: HttpRequest) -> HttpResponse:
    label = request.POST.get("label", "").strip()[:80]
    try:
        raw_key = api_key_issue(user=_user(request), label=label)
    except ApiKeyLimit as refused:
        response = _new_page(request, key_error=refused.message)
        response.status_code = refused.status
        return response
    return _new_page(request, new_key=raw_key)


@login_required
@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = ApiKey.objects.filter(pk=key_id, user=_user(request)).first()
    if api_key is None:
        raise Http404("no such API key")
    api_key_revoke(api_key=api_key)
    return HttpResponseRedirect(reverse("strategies:new") + "#api-keys")


@login_required
@require_POST
def strategy_upload(request: HttpRequest) -> HttpResponse:
    """Deploy uploaded files through strategy_deploy, the API's own door; errors name file, path and line."""
    files: dict[str, str] = {}
    issues: list[ValidationIssue] = []
    for upload in request.FILES.getlist("files"):
        name = (upload.name or "").rsplit("/", 1)[-1]
        if upload.size is not None and upload.size > UPLOAD_MAX_BYTES:
            issues.append(ValidationIssue(name, f"is {upload.size} bytes; a file may have at most {UPLOAD_MAX_BYTES}"))
            continue
        try:
            files[name] = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            issues.append(ValidationIssue(name, "is not UTF-8 text"))
    if not files and not issues:
        issues.append(ValidationIssue("files", "choose the strategy's files: entry.py, exit.py and config.json, "
                                               "or strategy.py and config.json"))
    if not issues:
        try:
            version = strategy_deploy(owner=_user(request), files=files, chat_id="dashboard-upload")
        except StrategyInvalid as invalid:
            issues = invalid.issues
        else:
            return HttpResponseRedirect(reverse("strategies:overview", args=[version.strategy_id]))
    response = _new_page(request, issues=issues, uploaded=sorted(files))
    response.status_code = 422
    return response



def _pct(value: Any) -> str:
    return f"{number(value)} %" if value is not None else "—"


def _days(value: Any) -> str:
    return f"{number(value, 1)} days" if value is not None else "—"


def _seconds(value: Any) -> str:
    return f"{number(value, 1)} s" if value is not None else "—"


# The backtest's metrics (trading/backtest/metrics.py) in the order a person reads them, with words for labels.
BACKTEST_FIGURES: list[tuple[str, str, Callable[[Any], str]]] = [
    ("return_pct", "Return", _pct), ("return_ann_pct", "Annual return", _pct), ("cagr_pct", "CAGR", _pct),
    ("buy_and_hold_return_pct", "Buy and hold", _pct), ("equity_final", "Final equity", usd),
    ("equity_peak", "Peak equity", usd), ("max_drawdown_pct", "Max drawdown", _pct),
    ("max_drawdown_duration_days", "Longest drawdown", _days), ("volatility_ann_pct", "Annual volatility", _pct),
    ("sharpe", "Sharpe ratio", number), ("sortino", "Sortino ratio", number), ("calmar", "Calmar ratio", number),
    ("trades", "Trades", str), ("win_rate_pct", "Win rate", _pct), ("best_trade_pct", "Best trade", _pct),
    ("worst_trade_pct", "Worst trade", _pct), ("avg_trade_pct", "Average trade", _pct),
    ("expectancy_pct", "Expectancy per trade", _pct), ("profit_factor", "Profit factor", number),
    ("exposure_pct", "Time in the market", _pct), ("fees_usd", "Fees", usd),
    ("open_positions", "Open at the end", str), ("bars", "Bars", str), ("steps", "Steps", str),
    ("duration_s", "Run time", _seconds),
]
SHOWN_ELSEWHERE = {"start", "end"}  # the range line above the figures says them


def backtest_figures(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of each metric: the known ones in reading order, any newer one after them in words."""
    known = {key for key, _, _ in BACKTEST_FIGURES} | SHOWN_ELSEWHERE
    figures = [(label, "—" if metrics[key] is None else shown(metrics[key]))
               for key, label, shown in BACKTEST_FIGURES if key in metrics]
    for key, value in metrics.items():
        if key not in known:
            words = key.removesuffix("_pct").removesuffix("_usd").replace("_", " ").capitalize()
            figures.append((words, _pct(value) if key.endswith("_pct") else usd(value) if key.endswith("_usd")
                            else number(value) if isinstance(value, float) else str(value)))
    return figures


def _epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def backtest_charts(backtest: Backtest) -> dict[str, Any]:
    """The Backtests tab's chart data: the equity curve, and on bars the price with entries and exits marked."""
    equity = [{"time": _epoch(moment), "value": float(value)} for moment, value in backtest.equity]
    charts: dict[str, Any] = {"equity": equity, "price": [], "markers": [], "symbol": "",
                              "figures": backtest_figures(backtest.metrics)}
    if backtest.data_source == Backtest.Source.POLYMARKET_RECORDED:
        return charts  # books, not bars: the trades table tells the entries and exits
    if backtest.data_source not in (Backtest.Source.CSV, Backtest.Source.ALPACA_HISTORY):
        return charts  # books, not bars: the trades table tells the entries and exits
    try:  # the run read these bars, so they are in the database's cache: no venue call here
        loaded = BacktestData(backtest.data_source, backtest.data_spec).load(
            backtest.version.config["platform"], start=backtest.start, end=backtest.end, offline=True)
    except (BacktestInvalid, DataError, OSError, VenueError):
        return charts
    series = next(iter(loaded.get("bars", {}).values()), None)
    if series is None:
        return charts
    low = equity[0]["time"] if equity else 0
    charts["symbol"] = series.symbol
    charts["price"] = [{"time": int(bar.start), "open": float(bar.open), "high": float(bar.high),
                        "low": float(bar.low), "close": float(bar.close)} for bar in series.bars if bar.start >= low
                       - series.period]
    markers = []
    for trade in backtest.trades:
        if trade.get("market_id") != series.symbol:
            continue
        markers.append({"time": _epoch(trade["entry_time"]), "position": "belowBar", "shape": "arrowUp",
                        "color": "#1a7f37"})
        if trade.get("exit_time"):
            markers.append({"time": _epoch(trade["exit_time"]), "position": "aboveBar", "shape": "arrowDown",
                            "color": "#cf222e"})
    charts["markers"] = sorted(markers, key=lambda marker: marker["time"])
    return charts
