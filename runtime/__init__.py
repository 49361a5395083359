"""The strategy runtime: load a strategy's files and run one cycle of it in the sandbox.

Django-free: nothing in this package imports Django, so the sandbox can import it. The
Django side (the executor that persists an Execution, ``strategy_run``) calls it like this::

    from runtime import CycleOutcome, SandboxLimits, SandboxUnavailable, VenueCallError, run_cycle

    limits = SandboxLimits.from_settings(settings.SANDBOX)
    outcome: CycleOutcome = run_cycle(
        files={"entry.py": ..., "exit.py": ..., "config.json": ...},   # or strategy.py + config.json
        ctx={
            "strategy_id": "42", "platform": "polymarket",  # platform defaults to config.json's
            "mode": "paper", "dry_run": False,
            "now": datetime.now(UTC),                        # datetimes and Decimals are converted
            "params": config["parameters"], "state": execution_state,
            "capital": {"total": ..., "deployed": ..., "available": ..., "pnl_today": ...},
            "positions": [{"position_id": "7", "platform": ..., "market_id": ..., "market_name": ...,
                           "side": ..., "size": ..., "quantity": ..., "entry_price": ...,
                           "current_price": ..., "unrealized_pnl": ..., "opened_at": ...}],
        },
        on_call=broker,   # (venue, method, kwargs) -> JSON-able result; raise VenueCallError to refuse
        limits=limits,
    )

``run_cycle(files, ctx, on_call, limits, on_log=None) -> CycleOutcome`` runs in the worker's
thread and returns when the run's process is gone. ``on_log``, when given, is called with the
lines received since its last call (often none) at least every 50 ms while the run lasts and
once after it ends, so a worker can stream a long run's log. ``on_call`` is called synchronously for every venue
call the script makes (``ctx.polymarket.get_order_book(token_id=...)``), including
``create_order`` / ``cancel_order``: the default ``execute_entry`` / ``execute_exit`` send
``create_order(intent="entry"|"exit", signal_index=i, **signal)``; the worker sizes, checks and
places (or, in a dry run, records) the order. Only methods of ``runtime.sdk.VENUE_METHODS``
reach ``on_call``. Any other exception than ``VenueCallError`` is logged here and reaches the
script as "venue call failed (ExceptionName)", so secrets in messages stay in the worker.

``CycleOutcome``: ``status`` (``succeeded`` / ``failed`` / ``timed_out``), ``entries`` and
``exits`` (validated signals as dicts), ``logs`` (``LogLine(seq, ts, level, message)``; prints
are info lines, stderr warning lines), ``error`` (one line) and ``traceback`` (the user's frames
only), ``state`` (the state to persist: the new one, or the previous one when the run died or
left an unusable state), ``duration_ms``, ``calls``, ``layers`` (what isolation applied) and
``weak``; ``as_dict()`` gives JSON.

``SandboxUnavailable`` is raised, instead of an outcome, when no cycle could start: an
isolation layer is missing and ``limits.allow_weak`` is off, or the sandbox cannot start. With
``allow_weak`` the run goes ahead without the missing layers and says so in a warning log line
(and in the run's own logs) every time.

``Sandbox`` holds one zygote (a pre-forked, pre-imported runner in bubblewrap); ``run_cycle``
uses two per worker process (``shared_sandbox(preload=...)``): one with numpy and pandas
preloaded for strategies whose code imports them (``wants_preload``, from the AST), and a lean
one, cheaper to fork, for the rest. Isolation is the same in both. Use your own ``Sandbox(...)`` to choose the
bwrap binary, the libraries strategies may import, or the recycling period.
``runtime.warm.WarmSessions`` runs a strategy version's scheduled cycles in a warm session: one sandboxed
process per version of one owner that forks a fresh child per cycle (``run_cycle`` with an owner key, the
same outcome as a cold run's; docs/sandbox.md, "Warm sessions").
``load_strategy(files)`` loads a strategy in the current process (cached by content hash), for
validation and tests; never call user code outside the sandbox in the worker.
"""

from runtime.limits import SandboxLimits
from runtime.loader import StrategyDefinition, StrategyLoadError, load_strategy, strategy_hash
from runtime.sandbox import (
    CycleOutcome,
    LogLine,
    Sandbox,
    SandboxUnavailable,
    VenueCallError,
    run_cycle,
    shared_sandbox,
    wants_preload,
)

__all__ = [
    "CycleOutcome",
    "LogLine",
    "Sandbox",
    "SandboxLimits",
    "SandboxUnavailable",
    "StrategyDefinition",
    "StrategyLoadError",
    "VenueCallError",
    "load_strategy",
    "run_cycle",
    "shared_sandbox",
    "strategy_hash",
    "wants_preload",
]
