"""What the smoke run of refused files adds to a deploy's first answer (issue 24, item 1): the seed copy trader,
as shared/reference/seed-design.md writes it, POSTed to /api/v1/strategies/ and refused, now with a smoke run of
the refused files (config defaults, rolled back), beside the same refusal's static checks alone and beside an
accepted deploy of the fixed files with its own smoke run (what the next round trip costs).

    python benchmarks/bench_first_deploy.py [--requests 20]

Requests go through Django's test client (the API's middleware and views, no network) on a throwaway test database
(tests.settings: the embedded PostgreSQL unless DATABASE_URL is set), venues on the simulator over HTTP.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from accounts.services import api_key_issue
    from strategies.validation import StrategyInvalid, strategy_files_validate
    from strategyhub.lib import embedded_postgres, embedded_redis
    from tests.api.test_copy_trader import SEED_CONFIG, SEED_STRATEGY
    from tests.api.test_first_deploy import FIXED_CONFIG, fixed_strategy
    from trading.simulator import SimulatorConfig, VenueSimulator
    from trading.venues import simulator_key_dir

    embedded_postgres.run_until_exit()
    # The API's throttle counts in Redis; stop a Redis started here.
    if settings.EMBEDDED_REDIS and embedded_redis.ensure_running(settings.EMBEDDED_REDIS_SOCKET):
        atexit.register(embedded_redis.shutdown, settings.EMBEDDED_REDIS_SOCKET)
    settings.ALLOWED_HOSTS = ["testserver"]
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    sim = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    settings.VENUE_SIMULATOR_URL = sim.url
    settings.VENUES = {venue: {**settings.VENUES[venue], **urls} for venue, urls in sim.venue_urls().items()}
    try:
        owner = get_user_model().objects.create_user("bench-owner")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_issue(user=owner)}")
        seed = {"strategy.py": SEED_STRATEGY, "config.json": json.dumps(SEED_CONFIG)}

        def refused() -> None:
            answer = client.post("/api/v1/strategies/", {"files": seed}, content_type="application/json")
            assert answer.status_code == 400 and answer.json()["smoke"]["status"] == "failed", answer.json()

        def static_only() -> None:
            try:
                strategy_files_validate(seed)
            except StrategyInvalid:
                return
            raise AssertionError("the seed must be refused")

        deployed = [0]

        def accepted() -> None:
            deployed[0] += 1
            config = {**FIXED_CONFIG, "name": f"Copy trader {deployed[0]}"}
            files = {"strategy.py": fixed_strategy(), "config.json": json.dumps(config)}
            answer = client.post("/api/v1/strategies/", {"files": files}, content_type="application/json")
            assert answer.status_code == 201 and answer.json()["smoke"]["status"] == "succeeded", answer.json()

        cases = {"static checks alone (the refusal before)": static_only,
                 "refused + smoke run of the refused files (now)": refused,
                 "accepted deploy + its smoke run (the next round trip)": accepted}
        timings: dict[str, list[float]] = {label: [] for label in cases}
        for run in cases.values():  # warm-up: sandbox zygote, adapters, caches
            run()
        for _ in range(args.requests):
            for label, run in cases.items():
                started = time.perf_counter()
                run()
                timings[label].append((time.perf_counter() - started) * 1000)
        print(f"{args.requests} requests each, {connection.vendor}, venue simulator over HTTP; "
              f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        print(f"{'answer':<55} {'median ms':>10} {'p90 ms':>8}")
        for label, values in timings.items():
            ordered = sorted(values)
            print(f"{label:<55} {statistics.median(values):>10.1f} {ordered[int(0.9 * (len(ordered) - 1))]:>8.1f}")
    finally:
        sim.stop()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
