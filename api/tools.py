"""Tool definitions for LLM function calling (OpenAI, Anthropic) and MCP, from one table, and how to call them.

Each tool is one REST route (get_strategy reads two, get_strategy_guide none): `tool_call` sends the
request through the API's own view in this process, with the caller's `Authorization` header, so a
tool answers exactly what REST answers: the same scopes, tenancy, throttles, idempotency and errors.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.urls import Resolver404, resolve

from api.errors import error_body
from api.output_schemas import tool_output_schema
from runtime.sdk import VENUE_METHODS
from strategies.validation import config_schema

API = "/api/v1"
EXAMPLES = settings.BASE_DIR / "strategies" / "examples"
GUIDE_EXAMPLES = ("polymarket_copy_trader", "kalshi_favourite_longshot")

ID = {"type": "string", "pattern": "^[0-9]{1,18}$", "description": "An id, as returned by another tool."}
STRATEGY_ID = {**ID, "description": "The strategy's id (from deploy_strategy or list_strategies)."}
FILES = {
    "type": "object",
    "description": (
        "The strategy's files by name, each value the whole file's text. Either layout: "
        '{"entry.py", "exit.py", "config.json"} or {"strategy.py", "config.json"}. '
        "Call get_strategy_guide first if you have not written a StrategyHub strategy before."),
    "additionalProperties": {"type": "string"},
}
PAGE = {"type": "integer", "minimum": 1, "description": "Page number, from 1 (50 per page)."}


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    method: str
    path: str  # with {placeholders} taken from the arguments
    properties: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True

    def input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": self.properties, "required": list(self.required),
                "additionalProperties": False}

    def output_schema(self) -> dict[str, Any] | None:
        """What a successful call answers (MCP structured output), from the REST route's documented answer."""
        return tool_output_schema(self.name, self.method, API + self.path if self.method != "LOCAL" else "")


TOOLS: tuple[Tool, ...] = (
    Tool(
        "get_strategy_guide", "How to write a strategy",
        "Returns everything needed to write a StrategyHub trading strategy: the JSON Schema of config.json, "
        "the SDK reference (signals, ctx, and every venue method with its arguments) and two complete worked "
        "examples. StrategyHub runs Python strategies in a sandbox every N seconds against Polymarket, Kalshi "
        "or Alpaca, first in paper trading. Call this before your first deploy_strategy.",
        "LOCAL", "",
    ),
    Tool(
        "deploy_strategy", "Deploy a new strategy",
        "Deploys a trading strategy from its files and answers, in the same reply, with a smoke run: one dry-run "
        "cycle of the new code in the sandbox against market data (nothing is sent to a venue). Read "
        "`smoke.status`, `smoke.logs` and `smoke.error` (with your code's traceback) and fix mistakes with "
        "update_strategy. Invalid files are refused with every problem listed in `error.issues` (file, JSON path "
        "or line, and what would be valid); nothing is stored then, yet the answer still carries `smoke`: a dry "
        "run of the refused files, with config.json's missing or invalid values taken from the schema's defaults "
        "(listed in `smoke.config_defaults`), so runtime errors arrive in the same answer: fix them all, then deploy "
        "again. The strategy waits for a person to approve it "
        "(status pending_approval) before it trades, in paper mode first; you cannot approve it. It always makes a "
        "new strategy: the `name` in config.json of one of your strategies is refused (error.type name_taken, "
        "naming that strategy's id); change that strategy with update_strategy instead. Deploying the same files "
        "again returns the same version (created: false). Returns the strategy (id, status, version, "
        "dashboard_url) with `smoke`.",
        "POST", "/strategies/",
        {"files": FILES,
         "chat_id": {"type": "string", "description": "Optional id of the conversation the files come from."}},
        ("files",), read_only=False, idempotent=True,
    ),
    Tool(
        "update_strategy", "Deploy a new version of a strategy",
        "Deploys a new version of an existing strategy: the files you send replace the current version's files of "
        "the same name (others are kept), and `config` (a whole config.json object) replaces config.json. Answers "
        "with a smoke dry run of the new version, like deploy_strategy (refused files too). A new version waits "
        "for a person's approval (status pending_approval, `version` its number); meanwhile the approved version "
        "keeps running on its schedule, with its own code and config (`running_version` its number), and approving "
        "the new one switches the strategy to it from its next run; rejecting it leaves the approved one running. "
        "test_run runs the newest version. Sending the current code and config again makes no version (created: "
        "false): config.json's whitespace and key order do not count, code files are compared byte for byte.",
        "POST", "/strategies/{strategy_id}/versions/",
        {"strategy_id": STRATEGY_ID,
         "files": {**FILES, "description": "Files to replace, by name, each value the whole new text."},
         "config": {"type": "object", "description": "The whole new config.json, as a JSON object."}},
        ("strategy_id",), read_only=False, idempotent=True,
    ),
    Tool(
        "list_strategies", "List your strategies",
        "Lists your strategies, 50 a page, with their status (pending_approval, approved, rejected: where the "
        "newest version stands), mode (backtest, paper, live), whether they are enabled, their current version, "
        "the approved version that runs (running_version) and run counts. Filter by "
        "status, mode or platform. Returns {count, next, previous, results}.",
        "GET", "/strategies/",
        {"status": {"enum": ["draft", "pending_approval", "approved", "rejected"]},
         "mode": {"enum": ["backtest", "paper", "live"]}, "platform": {"enum": ["polymarket", "kalshi", "alpaca"]},
         "page": PAGE},
    ),
    Tool(
        "get_strategy", "Read a strategy and its current code",
        "Returns one strategy (status, mode, enabled, schedule, run counts, next run) and its current version with "
        "every file's full text and config. Use it before update_strategy to see the code you are changing.",
        "GET", "/strategies/{strategy_id}/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
    ),
    Tool(
        "diff_versions", "Diff two versions",
        "Returns a unified diff, per file, between versions a and b of a strategy (only the files that differ).",
        "GET", "/strategies/{strategy_id}/versions/{a}/diff/{b}/",
        {"strategy_id": STRATEGY_ID, "a": {**ID, "description": "The older version's number."},
         "b": {**ID, "description": "The newer version's number."}}, ("strategy_id", "a", "b"),
    ),
    Tool(
        "test_run", "Test-run a strategy (dry run)",
        "Runs one cycle of the strategy's current version now, as a dry run: market data is real, orders are only "
        "recorded as `order_would_place` actions, nothing is sent and no position is opened; the strategy's saved "
        "state is not changed. Works before approval. Returns the execution: status (succeeded, failed, "
        "timed_out), logs, actions, error with traceback, and state_after.",
        "POST", "/strategies/{strategy_id}/test-run/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
        read_only=False, idempotent=False,
    ),
    Tool(
        "run_now", "Run a strategy now (real cycle)",
        "Queues one real cycle now, outside the schedule: in paper mode it places paper orders, in live mode real "
        "ones, with the approved version that runs (running_version), even while a newer one waits. Only for an "
        "approved, enabled strategy; refused with error type already_running while a cycle is "
        "queued or running. Returns {execution_id, status: queued}; read the result with get_execution.",
        "POST", "/strategies/{strategy_id}/run/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
        read_only=False, destructive=True, idempotent=False,
    ),
    Tool(
        "pause_strategy", "Pause a strategy",
        "Stops scheduling the strategy (a cycle already running finishes). Open positions stay open. Returns the "
        "strategy with enabled: false.",
        "POST", "/strategies/{strategy_id}/pause/",
        {"strategy_id": STRATEGY_ID, "reason": {"type": "string", "description": "Why, shown to the user."}},
        ("strategy_id",), read_only=False, destructive=True, idempotent=True,
    ),
    Tool(
        "enable_strategy", "Enable a paused strategy",
        "Schedules a paused strategy again from now (no catch-up of missed runs), running its approved version; a "
        "strategy with no approved version still waits for approval. Returns the strategy with enabled: true.",
        "POST", "/strategies/{strategy_id}/enable/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
        read_only=False, idempotent=True,
    ),
    Tool(
        "list_executions", "List a strategy's runs",
        "Lists the strategy's runs (executions), newest first, 50 at a time: trigger (scheduled, manual, dry_run), "
        "status (queued, running, succeeded, failed, timed_out, skipped), entries, exits, error. Pass `cursor` "
        "from the previous answer's `next` to read older runs.",
        "GET", "/strategies/{strategy_id}/executions/",
        {"strategy_id": STRATEGY_ID,
         "status": {"enum": ["queued", "running", "succeeded", "failed", "timed_out", "skipped"]},
         "trigger": {"enum": ["scheduled", "manual", "dry_run"]},
         "cursor": {"type": "string", "description": "The `cursor` query value of a previous `next` URL."}},
        ("strategy_id",),
    ),
    Tool(
        "get_execution", "Read one run",
        "Returns one run with every log line, every action (orders placed, refused with the reason, would-place in "
        "a dry run, positions closed), the error with your code's traceback, and ctx.state after the run.",
        "GET", "/executions/{execution_id}/", {"execution_id": {**ID, "description": "The execution's id."}},
        ("execution_id",),
    ),
    Tool(
        "get_positions", "Read a strategy's positions",
        "Lists the strategy's positions, newest first: book (paper or live), market, side, quantity, cost basis, "
        "current price, unrealized and realized P&L in USD (decimal strings). Filter by status (open, closed) "
        "and book.",
        "GET", "/strategies/{strategy_id}/positions/",
        {"strategy_id": STRATEGY_ID, "status": {"enum": ["open", "closed"]}, "book": {"enum": ["paper", "live"]},
         "page": PAGE}, ("strategy_id",),
    ),
    Tool(
        "get_orders", "Read a strategy's orders",
        "Lists the strategy's orders with their fills, newest first: status (new, submitted, partially_filled, "
        "filled, cancelled, rejected, unresolved), quantity, limit price, notional, fees, reject reason.",
        "GET", "/strategies/{strategy_id}/orders/",
        {"strategy_id": STRATEGY_ID, "book": {"enum": ["paper", "live"]}, "page": PAGE}, ("strategy_id",),
    ),
    Tool(
        "get_performance", "Read a strategy's performance",
        "Returns, per book (paper, then live once it trades), realized and unrealized P&L, today's P&L, win rate, "
        "max drawdown, deployed and available capital, and the equity after each closed trade then now at today's "
        "marks: every number marked to market, as the graduation checklist counts them.",
        "GET", "/strategies/{strategy_id}/performance/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
    ),
    Tool(
        "get_graduation", "Read the paper → live checklist",
        "Returns the checklist a strategy must pass in paper trading before a person may approve it for real "
        "money (≥ 20 closed trades, win rate > 55 %, positive P&L, max drawdown < 20 %), with today's values "
        "marked to market and the uncertainty of each at 95 %: the Wilson interval of the win rate, the mean P&L "
        "per trade after fees with its one-sided lower bound (Student's t), and on prediction markets the "
        "calibration (win rate against the average price paid: buying at 0.90 should win 90 %). statistics.strict "
        "means the deployment also requires that lower bound above $0.",
        "GET", "/strategies/{strategy_id}/graduation/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
    ),
    Tool(
        "run_backtest", "Backtest a strategy over history",
        "Starts a backtest of the strategy's latest version (approved or not): the same files run unchanged in the "
        "sandbox over past market data, stepping ctx.now through the data's timestamps (ctx.mode is \"backtest\"; "
        "nothing after ctx.now can be read), with paper trading's sizing, risk checks and fees. No order reaches a "
        "venue. The data is the venue's own history (data_source): Alpaca daily bars of parameters.symbol "
        "(alpaca_history), the recorded Polymarket books (polymarket_recorded, the default on Polymarket unless "
        "parameters.tracked_traders names wallets: then polymarket_history over their trades, which "
        "get_trade_history answers up to ctx.now, and the markets they traded), "
        "Polymarket's prices-history (polymarket_history: a book of one level at the price ± half_spread) or Kalshi "
        "candlesticks (kalshi_candles: the candles' closing bid and ask); markets names what to test on (symbols, "
        "tickers, condition ids; default the strategy's parameters) and interval the minutes between points. "
        "Optional start and end (ISO 8601 times, UTC if no offset) narrow the range; "
        "cash (USD, a decimal string) replaces capital.total_capital. Answers at once with {backtest_id, status: "
        "queued}; it runs in the background (seconds to a minute): poll get_backtest until status is succeeded, "
        "failed or cancelled. Use it to see whether an idea has any edge before paper trading.",
        "POST", "/strategies/{strategy_id}/backtests/",
        {"strategy_id": STRATEGY_ID,
         "start": {"type": "string", "format": "date-time", "description": "First time to test from (ISO 8601)."},
         "end": {"type": "string", "format": "date-time", "description": "Time to stop before (ISO 8601)."},
         "cash": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$",
                  "description": "Starting cash in USD, e.g. \"10000\"."},
         "data_source": {"enum": ["polymarket_recorded", "polymarket_history", "kalshi_candles", "alpaca_history"],
                         "description": "Which venue history to run on (default: the platform's)."},
         "markets": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 20,
                     "description": "Symbols, Kalshi tickers or Polymarket condition ids to test on."},
         "interval": {"type": "integer", "minimum": 1, "maximum": 1440,
                      "description": "Minutes between points (Kalshi: 1, 60 or 1440)."},
         "half_spread": {"type": "string", "pattern": "^0(\\.[0-9]{1,4})?$",
                         "description": "polymarket_history: bid/ask distance from each price, e.g. \"0.01\"."}},
        ("strategy_id",), read_only=False, idempotent=False,
    ),
    Tool(
        "get_backtest", "Read a backtest's progress and results",
        "Returns one backtest: status (queued, running, succeeded, failed, cancelled), progress in percent with an "
        "ETA, and once succeeded its metrics (return_pct, cagr_pct, sharpe, sortino, max_drawdown_pct, win_rate_pct, "
        "profit_factor, trades, fees_usd, buy_and_hold_return_pct, ...), every trade (market, side, entry and exit "
        "time and price, quantity, pnl net of fees), the equity curve as [[time, USD], ...], positions still open "
        "at the end, and the look-ahead check (signals re-run with the data cut just after them; `biased: true` with "
        "`flagged` signals means the strategy reads the future). `error` says why a failed one failed, with your "
        "code's traceback where it raised.",
        "GET", "/backtests/{backtest_id}/", {"backtest_id": {**ID, "description": "The id run_backtest returned."}},
        ("backtest_id",),
    ),
    Tool(
        "run_sweep", "Backtest a strategy over many parameter values",
        "Starts a parameter sweep of the strategy's latest version: one backtest per point (each as run_backtest "
        "runs one, over the same data and range), the points being every combination of the values you give "
        "(method grid) or `samples` seeded random draws (method random; a {min, max} range without a step is drawn "
        "from continuously). `parameters` names keys of config.json's parameters, each with a list of values or "
        "{\"min\", \"max\", \"step\"}, e.g. {\"fast\": [5, 10, 15], \"slow\": {\"min\": 20, \"max\": 60, "
        "\"step\": 10}}. At most 200 points (SWEEP_MAX_POINTS): more is refused naming the field. The points are "
        "ranked by `metric` (default sharpe, higher first) over the range before a held-back tail (`holdout`, "
        "default 0.25 of the range); the answer of get_sweep then carries the number of trials, the deflated "
        "Sharpe ratio of the best (the probability that its Sharpe beats the best that luck alone gives among "
        "that many trials: below 0.95, treat the best as luck) and the best's metrics over the held-back tail "
        "(out_of_sample): prefer parameters that hold up there. Answers at once with {sweep_id, status: queued, "
        "total}; poll get_sweep (progress.done of progress.total) until status is succeeded, failed or cancelled.",
        "POST", "/strategies/{strategy_id}/backtests/sweeps/",
        {"strategy_id": STRATEGY_ID,
         "parameters": {"type": "object", "description": "config.json parameter name -> a list of values or "
                        "{\"min\", \"max\", \"step\"}.",
                        "additionalProperties": {"anyOf": [{"type": "array", "minItems": 1},
                                                           {"type": "object", "properties": {
                                                               "min": {"type": "number"}, "max": {"type": "number"},
                                                               "step": {"type": "number"}},
                                                            "required": ["min", "max"]}]}},
         "method": {"enum": ["grid", "random"], "description": "grid (default): every combination; random: samples."},
         "samples": {"type": "integer", "minimum": 1, "description": "random: how many points (at most 200)."},
         "seed": {"type": "integer", "minimum": 0, "description": "random: the seed (default: drawn, returned)."},
         "metric": {"enum": ["sharpe", "sortino", "calmar", "return_pct", "cagr_pct", "return_ann_pct",
                             "max_drawdown_pct", "win_rate_pct", "profit_factor", "expectancy_pct", "avg_trade_pct"],
                    "description": "What to rank by, higher first (default sharpe)."},
         "holdout": {"type": "number", "minimum": 0, "maximum": 0.9,
                     "description": "Share of the range held back as the out-of-sample tail (default 0.25)."},
         "start": {"type": "string", "format": "date-time", "description": "First time to test from (ISO 8601)."},
         "end": {"type": "string", "format": "date-time", "description": "Time to stop before (ISO 8601)."},
         "cash": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$",
                  "description": "Starting cash in USD, e.g. \"10000\"."},
         "data_source": {"enum": ["polymarket_recorded", "polymarket_history", "kalshi_candles", "alpaca_history"],
                         "description": "Which venue history to run on (default: the platform's)."},
         "markets": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 20,
                     "description": "Symbols, Kalshi tickers or Polymarket condition ids to test on."}},
        ("strategy_id", "parameters"), read_only=False, idempotent=False,
    ),
    Tool(
        "get_sweep", "Read a parameter sweep's progress and ranking",
        "Returns one sweep: status, progress ({done, total, percent}), and once finished `trials` (the points that "
        "ran), `ranking` (every point best first: rank, backtest_id, parameters, score, in_sample and "
        "out_of_sample metrics), `best`, `deflated_sharpe` (of the best: sharpe and expected_max_sharpe per period, "
        "trials, skew, kurtosis, and deflated_sharpe, the probability its true Sharpe beats the luck of that many "
        "trials) and `out_of_sample` (the best's metrics over the held-back tail that starts at split_at). Read a "
        "point's trades with get_backtest(backtest_id).",
        "GET", "/sweeps/{sweep_id}/", {"sweep_id": {**ID, "description": "The id run_sweep returned."}},
        ("sweep_id",),
    ),
    Tool(
        "cancel_sweep", "Cancel a parameter sweep",
        "Stops a sweep: points still waiting are cancelled, a running one stops between two steps; the points that "
        "finished are ranked as the sweep's result (status cancelled). Returns the sweep.",
        "DELETE", "/sweeps/{sweep_id}/", {"sweep_id": {**ID, "description": "The id run_sweep returned."}},
        ("sweep_id",), read_only=False, destructive=True, idempotent=True,
    ),
    Tool(
        "create_webhook", "Be told of events by HTTP POST",
        "Registers an https URL that StrategyHub POSTs a signed JSON event to, so you hear of trouble without "
        "polling: execution.failed (a run failed or timed out, with the error), order.filled (each fill), "
        "strategy.paused (by its owner, the kill switch or its max_daily_loss) and version.pending_approval (a "
        "new version waits for a person). Returns the endpoint with its signing `secret` (shown only in this "
        "answer): each request carries `StrategyHub-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`. "
        "Private and loopback addresses are refused. Failed deliveries are retried with backoff for hours.",
        "POST", "/webhooks/",
        {"url": {"type": "string", "format": "uri", "description": "The http(s) URL to POST events to."},
         "events": {"type": "array", "minItems": 1, "items": {"enum": ["execution.failed", "order.filled",
                                                                      "strategy.paused", "version.pending_approval"]},
                    "description": "The event types to send."},
         "description": {"type": "string", "maxLength": 200, "description": "A note for yourself."}},
        ("url", "events"), read_only=False, idempotent=False,
    ),
    Tool(
        "list_webhooks", "List your webhook endpoints",
        "Lists your webhook endpoints (id, url, events, enabled), never their secrets.",
        "GET", "/webhooks/",
    ),
    Tool(
        "get_webhook_deliveries", "Read what was sent to a webhook",
        "Lists the events sent to one of your webhook endpoints, newest first: type, status (pending, delivered, "
        "failed), attempts, next attempt time, the receiver's last HTTP status and error, and the payload sent.",
        "GET", "/webhooks/{webhook_id}/deliveries/",
        {"webhook_id": {**ID, "description": "The id create_webhook or list_webhooks returned."}, "page": PAGE},
        ("webhook_id",),
    ),
    # Issue 24: archive and clone, markets and wallets to trade, versions, backtests, webhooks kept up to date.
    Tool(
        "archive_strategy", "Archive a strategy",
        "Archives one of your strategies for good: it never runs again, list_strategies and the dashboard no longer "
        "show it, and its name is free for a new strategy. Its versions, runs, orders and positions are kept. "
        "Refused (error.type archive_refused) while it has open positions, orders that may still fill or a cycle "
        "queued or running: pause it first and let them close. Returns the strategy with status archived.",
        "POST", "/strategies/{strategy_id}/archive/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
        read_only=False, destructive=True, idempotent=True,
    ),
    Tool(
        "clone_strategy", "Copy a strategy under a new name",
        "Makes a new strategy of yours from the current version's files of one of your strategies, config.json's "
        "name set to `name` (default \"<name> (copy)\"): start a variant without touching the original. The copy "
        "is version 1, in paper mode, waiting for a person's approval, and is answered with a smoke dry run like "
        "deploy_strategy; runs, positions and state stay with the original. A name already in use is refused "
        "(error.type name_taken). Returns the new strategy (id, status, version, dashboard_url) with `smoke`.",
        "POST", "/strategies/{strategy_id}/clone/",
        {"strategy_id": STRATEGY_ID,
         "name": {"type": "string", "maxLength": 120, "description": "The copy's name (config.json `name`)."},
         "chat_id": {"type": "string", "description": "Optional id of the conversation asking for it."}},
        ("strategy_id",), read_only=False, idempotent=False,  # without a name, each call is another copy
    ),
    Tool(
        "find_markets", "Find markets to trade",
        "Searches a venue's markets, as the venue itself lists them: Polymarket by words of the question, Kalshi "
        "open markets by title or ticker, Alpaca assets by symbol or name; an empty query lists the first open "
        "ones. Each result gives market_id (Polymarket condition id, Kalshi ticker, Alpaca symbol), title, "
        "outcomes and instrument_ids: what an EntrySignal's market_id names (on Polymarket the outcome's token id, "
        "in the order of outcomes) and what venue reads such as get_midpoint take. Put them in your config.json "
        "`parameters` for your strategy to read.",
        "GET", "/markets/",
        {"platform": {"enum": ["polymarket", "kalshi", "alpaca"], "description": "The venue to search."},
         "query": {"type": "string", "maxLength": 200, "description": "Words of the title, a ticker or a symbol."},
         "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many (default 20)."}},
        ("platform",),
    ),
    Tool(
        "find_wallets", "Find Polymarket wallets to copy",
        "Lists Polymarket's most profitable wallets over a window (day, week, month or all time), best first, from "
        "Polymarket's trader leaderboard: wallet address, rank, P&L in USD and volume. A copy trader follows such "
        "a wallet: put its address in config.json `parameters` and read its trades with "
        "ctx.polymarket.get_trade_history(maker_address=..., limit=...). Past P&L is no promise: backtest first.",
        "GET", "/wallets/",
        {"window": {"enum": ["day", "week", "month", "all"], "description": "The P&L period (default month)."},
         "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many (default 20)."}},
    ),
    Tool(
        "list_versions", "List a strategy's versions",
        "Lists the strategy's versions, newest first: number, layout, content_hash, approval (pending, "
        "approved_paper, approved_live, rejected, with the rejection reason), is_current, and each file's name, "
        "sha256 and size. Read one version's code with get_version; compare two with diff_versions.",
        "GET", "/strategies/{strategy_id}/versions/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
    ),
    Tool(
        "get_version", "Read one version's code",
        "Returns one version of a strategy with every file's full text and its config.json, its approval and "
        "whether it is the current version. Versions are immutable: an old one stays readable.",
        "GET", "/strategies/{strategy_id}/versions/{number}/",
        {"strategy_id": STRATEGY_ID, "number": {**ID, "description": "The version's number (from list_versions)."}},
        ("strategy_id", "number"),
    ),
    Tool(
        "list_backtests", "List a strategy's backtests",
        "Lists the strategy's 50 most recent backtests, newest first: status, progress, data source, range, "
        "cash, version and, once succeeded, the metrics. Read one backtest's trades and equity with get_backtest.",
        "GET", "/strategies/{strategy_id}/backtests/", {"strategy_id": STRATEGY_ID}, ("strategy_id",),
    ),
    Tool(
        "cancel_backtest", "Cancel a backtest",
        "Cancels a backtest: a queued one stops at once, a running one between two steps. Cancelling one that has "
        "already finished changes nothing. Returns the backtest (status cancelled, or its final status).",
        "DELETE", "/backtests/{backtest_id}/", {"backtest_id": {**ID, "description": "The id run_backtest returned."}},
        ("backtest_id",), read_only=False, destructive=True, idempotent=True,
    ),
    Tool(
        "update_webhook", "Change a webhook endpoint",
        "Changes one of your webhook endpoints: its url, the events it receives, its description, or enabled "
        "(false: no event is recorded for it until enabled again). Only the arguments you send change; the "
        "signing secret stays the same. Returns the endpoint.",
        "PATCH", "/webhooks/{webhook_id}/",
        {"webhook_id": {**ID, "description": "The id create_webhook or list_webhooks returned."},
         "url": {"type": "string", "format": "uri", "description": "The new http(s) URL to POST events to."},
         "events": {"type": "array", "minItems": 1, "items": {"enum": ["execution.failed", "order.filled",
                                                                      "strategy.paused", "version.pending_approval"]},
                    "description": "The event types to send (replaces the list)."},
         "description": {"type": "string", "maxLength": 200, "description": "A note for yourself."},
         "enabled": {"type": "boolean", "description": "false stops recording events for this endpoint."}},
        ("webhook_id",), read_only=False, idempotent=True,
    ),
    Tool(
        "delete_webhook", "Delete a webhook endpoint",
        "Deletes one of your webhook endpoints and its delivery history; nothing more is sent to it. Returns "
        "{deleted: true, webhook_id}.",
        "DELETE", "/webhooks/{webhook_id}/",
        {"webhook_id": {**ID, "description": "The id create_webhook or list_webhooks returned."}},
        ("webhook_id",), read_only=False, destructive=True, idempotent=True,
    ),
)
TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


def tool_definitions(format_: str) -> list[dict[str, Any]]:
    """The tools in OpenAI (`openai`), Anthropic (`anthropic`) or MCP (`mcp`) format."""
    if format_ == "openai":
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.input_schema()}} for t in TOOLS]
    if format_ == "anthropic":
        return [{"name": t.name, "description": t.description, "input_schema": t.input_schema()} for t in TOOLS]
    return [{"name": t.name, "title": t.title, "description": t.description, "inputSchema": t.input_schema(),
             **({"outputSchema": schema} if (schema := t.output_schema()) is not None else {}),
             "annotations": {"title": t.title, "readOnlyHint": t.read_only, "destructiveHint": t.destructive,
                             "idempotentHint": t.idempotent, "openWorldHint": False}} for t in TOOLS]


# --- the guide -----------------------------------------------------------------------------------------

SDK_REFERENCE = """\
Import: `from strategies.sdk import BaseStrategy, EntrySignal, ExitSignal, Position` (`from servers.strategies
import ...` works too). Only the Python standard library, numpy, pandas and this SDK can be imported; the code has
no network and no files: every venue call goes through ctx.

Layouts: (a) entry.py with `def should_enter(ctx)` returning a list of EntrySignal, exit.py with
`def should_exit(ctx, position)` returning an ExitSignal or None, and config.json; or (b) strategy.py with one
`class MyStrategy(BaseStrategy)` defining `should_enter(self, ctx)` and `should_exit(self, ctx, position)`, and
config.json. Functions may be `def` or `async def`.

EntrySignal(market_id, side, reason, confidence=0.5, market_name="", size_usd=None, limit_price=None): open a
position. side is "yes"/"no" on polymarket and kalshi (market_id is a Polymarket token id or a Kalshi ticker),
"buy"/"sell" on alpaca (market_id is a symbol). confidence in [0, 1] drives Kelly sizing; size_usd asks for an
amount (always capped by config.capital and risk_limits); limit_price is in (0, 1) on prediction markets.
ExitSignal(position_id, reason, fraction=1.0): close `fraction` of an open position (position.position_id).
Position: position_id, platform, market_id, market_name, side, size (USD cost basis), quantity, entry_price,
current_price, unrealized_pnl, opened_at. Return on a position: position.unrealized_pnl / position.size.

ctx: strategy_id, platform, mode ("backtest"/"paper"/"live"), dry_run, now (aware UTC datetime), params
(config.json "parameters"), state (a JSON dict kept between runs: each run is a fresh process, so remember
things such as already-copied trade ids here), capital (total, deployed, available, pnl_today), positions (open
Position list), log(msg, level="info"), and one client per venue: ctx.polymarket, ctx.kalshi, ctx.alpaca (also
ctx.venue, the strategy's own). `poly = await ctx.polymarket` and `ctx.polymarket.get_midpoint(...)` both work;
every reply may be awaited or used directly. Venue replies are the venue's own JSON (dicts and lists).
Bars as columns: `bars = ctx.alpaca.get_bars(symbol, timeframe="1Day", limit=21, columns=True)` answers the very
bars get_bars answers (same arguments, bounds and errors; in a backtest never a bar after ctx.now) as a BarColumns:
bars.time (the bars' "t" texts), bars.open, .high, .low, .close, .volume (lists of floats, oldest first; a fresh
copy each read), len(bars). Far faster in a backtest than a dict per bar: `closes = bars.close` then
`sum(closes[-10:]) / 10`, or `numpy.asarray(bars.close)`.
In a BaseStrategy: self.config (config.json; `self.config["risk_limits"]` or `self.config.risk_limits`),
self.get_param(name, default), self.state. The default execute_entry / execute_exit size each signal with the
capital engine, run the risk checks and place the order: you rarely need to place orders yourself.

Orders are placed only on the strategy's platform and always pass sizing and risk checks (max_order_usd,
max_positions, max_position_size, max_daily_usd, available capital, max_daily_loss pauses the strategy).
"""


def _venue_methods() -> dict[str, dict[str, list[str]]]:
    return {venue: {name: list(args) for name, args in methods.items()} for venue, methods in VENUE_METHODS.items()}


@cache
def strategy_guide() -> dict[str, Any]:
    examples = []
    for name in GUIDE_EXAMPLES:
        folder = EXAMPLES / name
        examples.append({"name": name, "files": {p.name: p.read_text() for p in sorted(folder.iterdir())
                                                 if p.is_file()}})
    return {"config_schema": config_schema(), "sdk_reference": SDK_REFERENCE,
            "venue_methods": _venue_methods(), "examples": examples}


# --- calling a tool ------------------------------------------------------------------------------------


def public_url() -> str:
    """Where this server is reached when no request says (MCP over stdio): PUBLIC_URL, else the first of
    ALLOWED_HOSTS over https."""
    if settings.PUBLIC_URL:
        return str(settings.PUBLIC_URL)
    host = next((h.lstrip(".") for h in settings.ALLOWED_HOSTS if h and h != "*"), "localhost")
    return f"https://{host}"


def api_request(method: str, path: str, *, authorization: str, query: dict[str, Any] | None = None,
                body: dict[str, Any] | None = None, idempotency_key: str = "", base_url: str = "") -> tuple[int, Any]:
    """One request to the API's own view, in this process (no socket): (status, JSON body). Links in the answer
    start with `base_url` (scheme://host[:port], the MCP request's own), else with public_url()."""
    origin = urlsplit(base_url or public_url())
    payload = json.dumps(body).encode() if body is not None else b""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
        "QUERY_STRING": urlencode({k: v for k, v in (query or {}).items() if v is not None}),
        "SERVER_NAME": origin.hostname or "localhost", "HTTP_HOST": origin.netloc, "wsgi.url_scheme": origin.scheme,
        "SERVER_PORT": str(origin.port or (443 if origin.scheme == "https" else 80)),
        "wsgi.input": io.BytesIO(payload), "CONTENT_LENGTH": str(len(payload)), "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": authorization, "HTTP_ACCEPT": "application/json",
    }
    if idempotency_key:
        environ["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    try:
        match = resolve(path)
    except Resolver404:
        return 404, error_body("not_found", f"no such resource: {path}")
    # The signals a request handler sends: stale database connections are closed as for any request.
    request_started.send(sender=WSGIRequest, environ=environ)
    try:
        response = match.func(WSGIRequest(environ), *match.args, **match.kwargs)
        if hasattr(response, "render"):
            response.render()
    finally:
        request_finished.send(sender=WSGIRequest)
    return response.status_code, json.loads(response.content or b"null")


def tool_call(name: str, arguments: dict[str, Any] | None, *, authorization: str,
              base_url: str = "") -> tuple[int, Any]:
    """Call tool `name` as the holder of `authorization` (a `Bearer shk_…` header): (HTTP status, JSON answer).
    Links in the answer start with `base_url` (see api_request)."""
    tool = TOOLS_BY_NAME.get(name)
    if tool is None:
        return 404, error_body("not_found", f"no tool {name!r}; tools: {', '.join(TOOLS_BY_NAME)}")
    arguments = dict(arguments or {})
    issues = [{"file": None, "path": key, "line": None, "message": f"{key}: is required"}
              for key in tool.required if arguments.get(key) in (None, "")]
    issues += [{"file": None, "path": key, "line": None, "message": f"{key}: is not an argument of {name}"}
               for key in arguments if key not in tool.properties]
    placeholders = [key for key in tool.properties if "{" + key + "}" in tool.path]
    issues += [{"file": None, "path": key, "line": None,
                "message": f"{key}: must be an id (digits), got {arguments[key]!r}"}
               for key in placeholders if key in arguments and not str(arguments[key]).isdigit()]
    if issues:
        return 400, error_body("validation_error", "; ".join(str(one["message"]) for one in issues), issues)
    if tool.method == "LOCAL":
        return 200, strategy_guide()
    path_ids = [int(arguments.pop(key)) for key in placeholders]
    path = API + tool.path.format(**dict(zip(placeholders, path_ids, strict=True)))
    if tool.method == "GET":
        code, answer = api_request("GET", path, authorization=authorization, query=arguments, base_url=base_url)
        if name == "get_strategy" and code == 200 and answer.get("version"):
            code, version = api_request("GET", f"{path}versions/{answer['version']}/",
                                        authorization=authorization, base_url=base_url)
            answer = {"strategy": answer, "current_version": version if code == 200 else None}
            code = 200
        return code, answer
    code, answer = api_request(tool.method, path, authorization=authorization, body=arguments, base_url=base_url)
    if code == 204:  # REST's "No Content" to a delete: say what happened, in an object like every answer
        return 200, {"deleted": True, **{key: str(value) for key, value in zip(placeholders, path_ids, strict=True)}}
    return code, answer
