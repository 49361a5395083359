"""Run one cycle of a strategy now, through exactly the worker's code path."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from strategies.cycle.run import CycleNotStarted, execution_as_dict, execution_run
from strategies.models import Execution


class Command(BaseCommand):
    help = "Run one cycle of strategy ID now. Exit 0 whenever a cycle ran, whatever its status."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("strategy_id", metavar="ID", type=int)
        parser.add_argument("--dry-run", action="store_true", help="Test Run: orders are recorded, nothing is sent")
        parser.add_argument("--json", action="store_true", help="print the execution as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            execution = execution_run(
                strategy_id=options["strategy_id"], trigger=Execution.Trigger.MANUAL, dry_run=options["dry_run"]
            )
        except CycleNotStarted as exc:
            raise CommandError(str(exc), returncode=1) from None
        result = execution_as_dict(execution)
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"execution {result['id']}: {result['status']} in {result['duration_ms']} ms "
                          f"({result['entries']} entries, {result['exits']} exits)")
        for line in result["logs"]:
            self.stdout.write(f"  {line['seq']:>3} {line['level']:<7} {line['message']}")
        if result["error"]:
            self.stdout.write(result["error"])
