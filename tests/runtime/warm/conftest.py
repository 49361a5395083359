"""The sandbox tests again, with every cycle through a warm session (runtime/warm.py).

`warm_sandbox` is a session-wide `Sandbox` seen through `WarmSandbox`: its
`run_cycle` serves each cycle from a warm session of that sandbox's zygote; everything else (the
zygote, `layers`, backtests) is the sandbox's own. The tests themselves are imported unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from runtime import CycleOutcome, Sandbox, SandboxLimits
from runtime.outcome import OnCall, OnLog
from runtime.warm import WarmSessions
from tests.runtime.conftest import FAST_LIMITS, Canaries


class WarmSandbox:
    """A `Sandbox` whose cycles go through warm sessions, one per strategy (the files) as a worker keys them."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.sessions = WarmSessions()

    def run_cycle(self, files: Mapping[str, str], ctx: Mapping[str, Any], on_call: OnCall,
                  limits: SandboxLimits | None = None, on_log: OnLog | None = None) -> CycleOutcome:
        owner = ("owner", str(ctx.get("strategy_id", "")))
        return self.sessions.run_cycle(owner, files, ctx, on_call, limits, on_log, sandbox=self.box)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.box, name)


@pytest.fixture(scope="session")
def warm_sandbox(canaries: Canaries) -> Iterator[WarmSandbox]:
    box = Sandbox()
    box.layers(FAST_LIMITS)  # start the zygote now, with the canaries already planted
    warm = WarmSandbox(box)
    yield warm
    warm.sessions.close()
    box.close()
