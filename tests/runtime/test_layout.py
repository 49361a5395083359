"""What of the repository a strategy can import: the SDK, the runtime and the pure desk a backtest runs inside the
sandbox (platform names, book shapes, sizing, risk, fees, the backtest engine), no adapter, no ledger, no settings."""

from __future__ import annotations

from runtime import Sandbox
from tests.runtime.conftest import FAST_LIMITS, no_op_on_call, scripts

PROBE = """
import importlib
def should_enter(ctx):
    from trading.venues.platforms import PLATFORMS
    ctx.log('platforms ' + ','.join(PLATFORMS))
    for name in ('trading.venues.base', 'trading.models', 'trading.venues', 'strategyhub.settings'):
        try:
            module = importlib.import_module(name)
        except ImportError:
            ctx.log(name + ' refused')
        else:
            ctx.log(name + ' ' + str(sorted(n for n in dir(module) if not n.startswith('__'))))
    return []
"""


def test_a_strategy_sees_the_pure_desk_and_nothing_else_of_trading(sandbox: Sandbox) -> None:
    outcome = sandbox.run_cycle(scripts(PROBE), {"strategy_id": "1"}, no_op_on_call, FAST_LIMITS)
    assert outcome.status == "succeeded", (outcome.error, outcome.traceback)
    assert [line.message for line in outcome.logs] == [
        "platforms polymarket,kalshi,alpaca",
        "trading.venues.base refused",
        "trading.models refused",
        "trading.venues ['domain', 'platforms']",  # a namespace package holding the bound files only
        "strategyhub.settings refused",
    ]
