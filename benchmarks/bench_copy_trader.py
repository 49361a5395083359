"""The shipped copy trader's backtest on its wallet's recorded trades: cold (the cache empty, every trade and price
fetched through the adapter from the simulator) beside warm (the same backtest again, the database's cache only),
and warm with the look-ahead check off.

    python benchmarks/bench_copy_trader.py [--runs 5]

`strategy_backtest strategies/examples/polymarket_copy_trader --json` in this process, as a user runs it (the
sandbox and the look-ahead check included), against a frozen venue simulator of its own, on the test settings'
embedded PostgreSQL (var/test/), started if needed. Each cold run first deletes the Polymarket cache rows.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
EXAMPLE = ROOT / "strategies" / "examples" / "polymarket_copy_trader"


def backtest() -> tuple[float, dict[str, Any]]:
    from django.core.management import call_command

    out = io.StringIO()
    started = time.perf_counter()
    call_command("strategy_backtest", str(EXAMPLE), "--json", stdout=out, stderr=io.StringIO())
    elapsed = time.perf_counter() - started
    shaped: dict[str, Any] = json.loads(out.getvalue())
    assert shaped["status"] == "succeeded", shaped["error"]
    return elapsed, shaped


def cache_empty() -> None:
    from trading.models import VenueHistoryPoint, VenueHistoryRange, VenueMarketInfo, VenueWalletTrade

    for model in (VenueWalletTrade, VenueHistoryPoint, VenueHistoryRange, VenueMarketInfo):
        model.objects.filter(venue="polymarket").delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import django

    from strategyhub.lib import embedded_postgres

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from trading.models import VenueHistoryPoint, VenueWalletTrade
    from trading.simulator import SimulatorConfig, VenueSimulator
    from trading.venues import simulator_key_dir

    with embedded_postgres.running(embedded_postgres.project_cluster()):
        call_command("migrate", verbosity=0)
        simulator = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
        settings.VENUE_SIMULATOR_URL = simulator.url
        settings.VENUES = {venue: {**settings.VENUES[venue], **urls} for venue, urls in simulator.venue_urls().items()}
        try:
            load_before = os.getloadavg()
            backtest()  # starts the sandbox's zygote: neither figure pays for it
            cold, warm, unchecked = [], [], []
            for _ in range(args.runs):  # alternating, so all three see the same load
                cache_empty()
                cold.append(backtest()[0])
                elapsed, shaped = backtest()
                warm.append(elapsed)
                settings.BACKTEST_LOOKAHEAD_CHECK = False
                unchecked.append(backtest()[0])
                settings.BACKTEST_LOOKAHEAD_CHECK = True
            load_after = os.getloadavg()
            trades, points = VenueWalletTrade.objects.count(), VenueHistoryPoint.objects.filter(venue="polymarket")
            points_count = points.count()
        finally:
            simulator.stop()

    metrics = shaped["metrics"]
    print(f"the shipped copy trader on its wallet's recorded trades ({metrics['start'][:10]} … {metrics['end'][:10]}),"
          f" {os.cpu_count()} cores, load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'':52}{'median (s)':>12}{'per step (ms)':>15}")
    for name, figures in ((f"cold: {trades} wallet trades, {points_count:,} prices fetched", cold),
                          ("warm: the database's cache only", warm),
                          ("warm, the look-ahead check off", unchecked)):
        median = statistics.median(figures)
        print(f"{name:52}{median:>12.2f}{median / metrics['steps'] * 1000:>15.1f}")
    print(f"every run (s): cold {', '.join(f'{t:.2f}' for t in cold)}; warm {', '.join(f'{t:.2f}' for t in warm)}; "
          f"unchecked {', '.join(f'{t:.2f}' for t in unchecked)}")
    print(f"{metrics['steps']} steps, {metrics['trades']} trades, {metrics['open_positions']} open at the end, return "
          f"{metrics['return_pct']:.4f} %; look-ahead check: {shaped['lookahead']}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
