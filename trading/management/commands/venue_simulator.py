"""`python manage.py venue_simulator [--host H] [--port N] [--speed X]`: serve every simulated venue."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from trading.simulator import SimulatorConfig, VenueSimulator
from trading.venues import simulator_key_dir


class Command(BaseCommand):
    help = "Run the venue simulator: Polymarket, Kalshi and Alpaca APIs on one local port."

    def add_arguments(self, parser: CommandParser) -> None:
        default = urlsplit(str(settings.VENUE_SIMULATOR_URL))
        parser.add_argument("--host", default=default.hostname or "127.0.0.1")
        parser.add_argument("--port", type=int, default=default.port or 8765)
        parser.add_argument("--speed", type=float, default=1.0,
                            help="replay speed of the recorded Polymarket data (0 freezes the books)")
        parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic Kalshi and Alpaca prices")

    def handle(self, *args: Any, **options: Any) -> None:
        config = SimulatorConfig(host=options["host"], port=options["port"], key_dir=simulator_key_dir(),
                                 speed=options["speed"], seed=options["seed"])
        simulator = VenueSimulator(config)
        self.stdout.write(f"Venue simulator listening on {simulator.url} (Ctrl-C to stop)")
        for platform, urls in simulator.venue_urls().items():
            self.stdout.write(f"  {platform}: " + ", ".join(f"{k}={v}" for k, v in urls.items()))
        # Installed explicitly: a process started with SIGINT ignored (a background job, CI) would
        # otherwise never see Ctrl-C, and SIGTERM is how supervisors stop it.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _interrupt)
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            simulator.httpd.server_close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
