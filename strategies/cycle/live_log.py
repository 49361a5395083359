"""A run's live log: the script's lines and the desk's actions in arrival order, streamed while the run lasts
(docs/scheduling.md, "Live logs")."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from runtime import LogLine
from strategies.events import execution_broadcast
from strategies.models import Execution, ExecutionAction, ExecutionLog

STREAM_AFTER = 0.25  # seconds: a shorter cycle's log is written once, with its result


@dataclass
class LogEntry:
    ts: datetime
    kind: str  # "" for a log line that is not an action
    message: str
    payload: dict[str, Any]
    level: str = "info"


class LiveLog:
    """The log of one cycle in arrival order: the script's lines (from the sandbox) and the desk's actions.

    A cycle that ends within STREAM_AFTER seconds writes its lines once, with its result, in one
    transaction. A longer one writes what it has at every delivery from the sandbox (about every
    50 ms) and broadcasts it once committed, so followers see its lines as they happen, as long as the
    run is still `running` (not failed meanwhile by recovery, its worker cut off). Sequence numbers
    follow arrival, so a follower de-duplicates whatever it receives twice.
    """

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.started = time.monotonic()
        self.pending: list[LogEntry] = []
        self.line_seq = self.action_seq = 0
        self.kinds: Counter[str] = Counter()  # actions by kind, streamed or not: what the last system line counts
        assert execution.started_at is not None
        version = execution.version.number if execution.version_id else "?"
        self.system(f"run started: {execution.get_trigger_display().lower()}, {execution.mode}, version {version}",
                    at=execution.started_at)

    def add(self, entry: LogEntry) -> None:
        if entry.kind:
            self.kinds[entry.kind] += 1
        self.pending.append(entry)

    def system(self, message: str, *, at: datetime | None = None) -> None:
        """A line of the worker's own (level `system`): every run has them, even one whose script logs nothing."""
        self.pending.append(LogEntry(at or timezone.now(), "", message, {}, ExecutionLog.Level.SYSTEM))

    def on_log(self, lines: list[LogLine]) -> None:
        self.pending.extend(LogEntry(line.ts, "", line.message, {}, line.level) for line in lines)
        if self.pending and time.monotonic() - self.started >= STREAM_AFTER:
            with transaction.atomic():
                logs, actions = self.take()
                if not Execution.objects.select_for_update().filter(pk=self.execution.pk,
                                                                    status=Execution.Status.RUNNING).exists():
                    return  # ended meanwhile (its worker taken for lost): its lines go with its end, unwritten
                ExecutionLog.objects.bulk_create(logs)
                ExecutionAction.objects.bulk_create(actions)
                transaction.on_commit(lambda: execution_broadcast(self.execution, logs, actions))

    def take(self) -> tuple[list[ExecutionLog], list[ExecutionAction]]:
        """What is pending, as unsaved rows numbered after what was taken before."""
        logs: list[ExecutionLog] = []
        actions: list[ExecutionAction] = []
        for entry in sorted(self.pending, key=lambda entry: entry.ts):
            self.line_seq += 1
            logs.append(ExecutionLog(execution=self.execution, seq=self.line_seq, ts=entry.ts, level=entry.level,
                                     message=entry.message))
            if entry.kind:
                self.action_seq += 1
                actions.append(ExecutionAction(execution=self.execution, seq=self.action_seq, ts=entry.ts,
                                               kind=entry.kind, message=entry.message, payload=entry.payload))
        self.pending = []
        return logs, actions
