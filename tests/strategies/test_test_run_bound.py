"""Dashboard Test Run clicks are bounded per user (issue 22, finding 3): at most TEST_RUNS_IN_FLIGHT_PER_USER
queued or running at once, past it a message that says when to retry; a run that ends frees its slot."""

from __future__ import annotations

import pytest
from django.test import Client

from strategies.services import strategy_deploy
from tests.conftest import scripts_files

pytestmark = pytest.mark.django_db


def test_test_run_clicks_past_the_bound_are_refused_with_when_to_retry(client: Client, alice, make_user, monkeypatch,
                                                                      settings,
                                                                      django_capture_on_commit_callbacks) -> None:
    from strategies import tasks

    settings.TEST_RUNS_IN_FLIGHT_PER_USER = 2
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(tasks.strategy_cycle, "delay", lambda *args: sent.append(args))  # the broker, not our code
    strategies = [strategy_deploy(owner=alice, files=scripts_files(name=f"Bounded {n}")).strategy for n in range(2)]
    client.force_login(alice)
    cards = []
    for strategy in (*strategies, strategies[0]):  # the bound is the user's, across their strategies
        with django_capture_on_commit_callbacks(execute=True):
            cards.append(client.post(f"/strategies/{strategy.pk}/test-run/", HTTP_HX_REQUEST="true").content.decode())
    assert "Test run queued" in cards[0] and "Test run queued" in cards[1]
    assert "you have 2 test runs queued or running" in cards[2] and "retry in a few seconds" in cards[2]
    assert len(sent) == 2
    other = make_user("carol")  # another user's clicks are counted apart
    mine = strategy_deploy(owner=other, files=scripts_files(name="Carol's")).strategy
    client.force_login(other)
    with django_capture_on_commit_callbacks(execute=True):
        assert "Test run queued" in client.post(f"/strategies/{mine.pk}/test-run/", HTTP_HX_REQUEST="true").content.decode()

    # A queued run that ends (here: its strategy cannot start a cycle, so it ends at once) frees its slot.
    tasks.strategy_cycle(strategies[0].pk + 10**9, "manual", True, str(sent[0][3]))
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        card = client.post(f"/strategies/{strategies[0].pk}/test-run/", HTTP_HX_REQUEST="true").content.decode()
    assert "Test run queued" in card
