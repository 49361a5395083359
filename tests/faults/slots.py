"""What the database says about scheduled runs: every slot on each strategy's grid accounted for, none
run twice, no two runs of one strategy overlapping."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, NamedTuple

RUNS_SQL = """
    SELECT strategy_id, scheduled_for, status, started_at, finished_at, error
    FROM strategies_execution WHERE trigger = 'scheduled' ORDER BY strategy_id, scheduled_for, id
"""


class Run(NamedTuple):
    strategy_id: int
    scheduled_for: datetime
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    error: str


def runs_from(cursor: Any) -> dict[int, list[Run]]:
    """Scheduled executions per strategy, in slot order, from a DB-API cursor on the project's database."""
    cursor.execute(RUNS_SQL)
    runs: dict[int, list[Run]] = defaultdict(list)
    for row in cursor.fetchall():
        run = Run(*row)
        runs[run.strategy_id].append(run)
    return dict(runs)


def slot_problems(runs: list[Run], *, origin: datetime, interval: int) -> list[str]:
    """Everything wrong with one strategy's scheduled runs; [] when every slot between the first and the
    last is on the grid, recorded once, finished (succeeded, or skipped/failed saying why), none overlapping."""
    problems: list[str] = []
    step = timedelta(seconds=interval)
    slots: dict[datetime, list[Run]] = defaultdict(list)
    for run in runs:
        slots[run.scheduled_for].append(run)
        if (run.scheduled_for - origin) % step:
            problems.append(f"{run.scheduled_for:%T.%f} is off the {interval}-second grid from {origin:%T.%f}")
        if run.status not in ("succeeded", "skipped", "failed", "timed_out"):
            problems.append(f"{run.scheduled_for:%T.%f} never finished: {run.status}")
        elif run.status != "succeeded" and not run.error.strip():
            problems.append(f"{run.scheduled_for:%T.%f} is {run.status} without a reason")
    problems += [f"{slot:%T.%f} recorded {len(same)} times: {[run.status for run in same]}"
                 for slot, same in slots.items() if len(same) > 1]
    if runs:
        slot, last = runs[0].scheduled_for, runs[-1].scheduled_for
        while slot <= last:
            if slot not in slots:
                problems.append(f"{slot:%T.%f} is missing: no execution row for this slot")
            slot += step
    ran = sorted((run for run in runs if run.started_at is not None), key=lambda run: run.started_at or origin)
    for before, after in itertools.pairwise(ran):
        assert after.started_at is not None
        if before.finished_at is None or after.started_at < before.finished_at:
            problems.append(f"{after.scheduled_for:%T.%f} started at {after.started_at:%T.%f} while "
                            f"{before.scheduled_for:%T.%f} ran until {before.finished_at}")
    return problems


def describe(runs: list[Run]) -> str:
    return "\n".join(f"  {run.scheduled_for:%T.%f} {run.status:<9} {run.error[:110]}" for run in runs)
