"""The worker's side of the sandbox: ``run_cycle`` runs one cycle in this process's ``Sandbox``.

See the package docstring (``runtime``) for the public API and docs/sandbox.md for the
design. The parts, along their seams:

- ``layout``: what the sandbox sees (the read-only binds, bubblewrap's argv);
- ``zygote_client``: the pre-forked runner inside bubblewrap, seen from the worker;
- ``protocol``: the frames of one run (logs, venue calls and their quotas, the re-validated result);
- ``session``: the select loop of one run, its deadlines and its verdict;
- ``pool``: ``Sandbox``, the zygotes of one worker and one cycle in one of them;
- ``outcome``: ``CycleOutcome``, ``LogLine`` and the errors.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Mapping
from typing import Any

from runtime.layout import REPO_ROOT
from runtime.limits import SandboxLimits
from runtime.outcome import CycleOutcome, LogLine, OnCall, OnLog, SandboxUnavailable, VenueCallError
from runtime.pool import DEFAULT_PRELOAD, Sandbox
from runtime.zygote_client import KILL_GRACE

__all__ = [
    "KILL_GRACE",
    "REPO_ROOT",
    "CycleOutcome",
    "LogLine",
    "Sandbox",
    "SandboxUnavailable",
    "VenueCallError",
    "run_cycle",
    "shared_sandbox",
    "wants_preload",
]

_shared: dict[bool, Sandbox] = {}
_shared_lock = threading.Lock()
_preload_wanted: dict[int, bool] = {}


def wants_preload(files: Mapping[str, str]) -> bool:
    """Whether the strategy's own code imports a preloaded package (numpy, pandas), read from its AST.

    Only a speed choice: a strategy run on the lean zygote may still import them (the packages are
    bound in every sandbox), it only pays the import. Forking a zygote that holds numpy and pandas
    costs every run more (page tables, teardown), so strategies that never name them skip it.
    """
    key = hash(tuple(sorted(files.items())))
    found = _preload_wanted.get(key)
    if found is None:
        found = False
        for name, source in files.items():
            if not name.endswith(".py"):
                continue
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                found = found or any(module.split(".")[0] in DEFAULT_PRELOAD for module in modules)
        if len(_preload_wanted) > 4096:
            _preload_wanted.clear()
        _preload_wanted[key] = found
    return found


def shared_sandbox(*, preload: bool = True) -> Sandbox:
    """This worker process's sandbox: one zygote with numpy and pandas preloaded, one lean one."""
    with _shared_lock:
        if preload not in _shared:
            _shared[preload] = Sandbox(preload=DEFAULT_PRELOAD if preload else ())
        return _shared[preload]


def run_cycle(
    files: Mapping[str, str],
    ctx: Mapping[str, Any],
    on_call: OnCall,
    limits: SandboxLimits | None = None,
    on_log: OnLog | None = None,
) -> CycleOutcome:
    """Run one cycle of the strategy made of `files` in this process's sandbox. See the package docs."""
    return shared_sandbox(preload=wants_preload(files)).run_cycle(files, ctx, on_call, limits, on_log)
