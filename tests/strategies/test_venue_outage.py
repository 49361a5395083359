"""The venue failing or slow: the scheduled run records the venue's error and the next slot runs normally."""

from __future__ import annotations

from datetime import timedelta

import pytest

from strategies.cycle.run import execution_start
from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy
from tests.conftest import example_files
from tests.strategies.test_scheduling import tick

pytestmark = pytest.mark.django_db


@pytest.fixture
def favourites(alice, staff, venues_on_simulator, settings) -> Strategy:
    settings.VENUE_TIMEOUT_SECONDS = 1
    strategy = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), approve_by=staff).strategy
    strategy.refresh_from_db()
    return strategy


def run_slot(strategy: Strategy, capture, slot) -> Execution:
    Strategy.objects.filter(pk=strategy.pk).update(next_run_at=slot)
    [execution_id] = tick(capture, slot)
    Execution.objects.filter(pk=execution_id).update(scheduled_for=slot)
    execution = execution_start(execution_id=execution_id)
    assert execution is not None
    return execution


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "status", "status": 503}, "503"),
        ({"kind": "latency", "delay_seconds": 3}, "timed out"),  # longer than the adapter's 1 s timeout
        ({"kind": "disconnect"}, "Remote end closed connection without response"),
    ],
)
def test_a_venue_outage_fails_the_run_with_the_venue_error_and_the_next_slot_runs(
        favourites: Strategy, venues_on_simulator, django_capture_on_commit_callbacks, fault, expected) -> None:
    interval = timedelta(seconds=favourites.polling_interval)
    slot = favourites.next_run_at
    assert slot is not None
    venues_on_simulator.faults.inject(venue="kalshi", method="GET", path_contains="/markets/", **fault)
    try:
        failed = run_slot(favourites, django_capture_on_commit_callbacks, slot)
    finally:
        venues_on_simulator.faults.clear()
    assert failed.status == "failed"
    assert "kalshi" in failed.error and expected in failed.error, failed.error

    recovered = run_slot(favourites, django_capture_on_commit_callbacks, slot + interval)
    assert recovered.status == "succeeded", recovered.error
    assert recovered.logs.filter(message__startswith="scanned").exists()
    favourites.refresh_from_db()
    assert (favourites.runs_total, favourites.runs_failed, favourites.runs_succeeded) == (2, 1, 1)


def test_a_slow_venue_only_makes_the_run_slower(
        favourites: Strategy, venues_on_simulator, django_capture_on_commit_callbacks) -> None:
    venues_on_simulator.faults.inject("latency", venue="kalshi", method="GET", path_contains="/markets/",
                                      delay_seconds=0.3)
    try:
        execution = run_slot(favourites, django_capture_on_commit_callbacks, favourites.next_run_at)
    finally:
        venues_on_simulator.faults.clear()
    assert execution.status == "succeeded", execution.error
    assert execution.duration_ms is not None and execution.duration_ms >= 300
