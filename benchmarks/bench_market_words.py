"""What naming markets costs a run's event (the websocket's and activity.json's rows): `execution_event` beside the
same rows without the shown words (the event's shape before market names), for a real copy-trader cycle.

    python benchmarks/bench_market_words.py [--repeat 2000]

The copy trader (strategies/examples) runs two paper cycles on the venue simulator over HTTP, on a throwaway test
database (tests.settings: the embedded PostgreSQL unless DATABASE_URL is set): the first buys and is refused at
max_positions (its names come from the actions' payloads), the second sells (an exit names no market: one query
on the strategy's positions). Each event is built from rows already read, as the live log passes them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def raw_event(execution: Any, logs: list[Any], actions: list[Any]) -> dict[str, Any]:
    """The rows as the event carried them before market names: the stored message only."""
    return {
        "execution": {"id": str(execution.pk), "status": execution.status},
        "logs": [{"seq": line.seq, "ts": line.ts.isoformat(), "level": line.level, "message": line.message}
                 for line in logs],
        "actions": [{"seq": action.seq, "ts": action.ts.isoformat(), "kind": action.kind, "message": action.message}
                    for action in actions],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from strategyhub.lib import embedded_postgres

    embedded_postgres.run_until_exit()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from strategies.cycle.run import execution_run
    from strategies.events import execution_event
    from strategies.models import Execution
    from strategies.services import strategy_deploy
    from trading.simulator import SimulatorConfig, VenueSimulator
    from trading.venues import simulator_key_dir

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}  # no Redis needed
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    sim = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    settings.VENUE_SIMULATOR_URL = sim.url
    settings.VENUES = {venue: {**settings.VENUES[venue], **urls} for venue, urls in sim.venue_urls().items()}
    try:
        staff = get_user_model().objects.create_superuser("bench-staff")
        owner = get_user_model().objects.create_user("bench-owner")
        folder = Path(settings.BASE_DIR) / "strategies/examples/polymarket_copy_trader"
        files = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
        strategy = strategy_deploy(owner=owner, files=files, approve_by=staff).strategy
        runs = [execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.MANUAL) for _ in range(2)]
        print(f"{args.repeat} events each, {connection.vendor}; the copy trader's two paper cycles")
        print(f"{'run':<34}{'rows':>6}{'queries':>9}{'raw µs p50':>12}{'named µs p50':>14}{'named µs p99':>14}")
        for label, run in zip(("entries (names in payloads)", "exits (names from positions)"), runs, strict=True):
            logs, actions = list(run.logs.order_by("seq")), list(run.actions.order_by("seq"))
            with CaptureQueriesContext(connection) as queries:
                execution_event(run, logs, actions)
            timings: dict[str, list[float]] = {"raw": [], "named": []}
            for _ in range(args.repeat):
                for name, build in (("raw", raw_event), ("named", execution_event)):
                    started = time.perf_counter()
                    build(run, logs, actions)
                    timings[name].append((time.perf_counter() - started) * 1e6)
            print(f"{label:<34}{len(logs) + len(actions):>6}{len(queries):>9}"
                  f"{statistics.median(timings['raw']):>12.0f}{statistics.median(timings['named']):>14.0f}"
                  f"{percentile(timings['named'], 0.99):>14.0f}")
    finally:
        sim.stop()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
