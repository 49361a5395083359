"""`Idempotency-Key` on every POST: a retry gets the first answer and never a second strategy, version or run."""

from __future__ import annotations

import pytest

from accounts.models import IdempotentRequest
from strategies.models import Execution, Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.api.conftest import error, kalshi_files
from tests.api.test_actions import buyer_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]


def test_a_retried_deploy_replays_the_first_answer(api) -> None:
    first = api.post("/api/v1/strategies/", {"files": kalshi_files()}, idempotency_key="deploy-1")
    again = api.post("/api/v1/strategies/", {"files": kalshi_files()}, idempotency_key="deploy-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Strategy.objects.count() == 1 and Execution.objects.count() == 1  # not even a second smoke run


def test_a_retried_run_now_never_queues_a_second_run(api, alice, staff) -> None:
    strategy = strategy_deploy(owner=alice, files=buyer_files(), approve_by=staff).strategy
    first = api.post(f"/api/v1/strategies/{strategy.pk}/run/", idempotency_key="run-1")
    again = api.post(f"/api/v1/strategies/{strategy.pk}/run/", idempotency_key="run-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert again["Location"] == first["Location"]
    assert Execution.objects.filter(strategy=strategy).count() == 1


def test_a_retried_new_version_makes_one_version(api, alice) -> None:
    strategy = strategy_deploy(owner=alice, files=kalshi_files()).strategy
    body = {"files": {"exit.py": "def should_exit(ctx, position):\n    return None\n"}}
    for _ in range(2):
        response = api.post(f"/api/v1/strategies/{strategy.pk}/versions/", body, idempotency_key="v2")
        assert response.status_code == 201
    assert StrategyVersion.objects.filter(strategy=strategy).count() == 2


def test_the_same_key_with_another_body_is_422(api) -> None:
    api.post("/api/v1/files/", {"filename": "a.py", "content": "x = 1\n"}, idempotency_key="k")
    response = api.post("/api/v1/files/", {"filename": "a.py", "content": "x = 2\n"}, idempotency_key="k")
    assert response.status_code == 422 and error(response)["type"] == "idempotency_key_reused"


def test_a_validation_error_is_replayed_too(api) -> None:
    first = api.post("/api/v1/strategies/", {"files": {"entry.py": "x"}}, idempotency_key="bad")
    again = api.post("/api/v1/strategies/", {"files": {"entry.py": "x"}}, idempotency_key="bad")
    assert first.status_code == again.status_code == 400 and first.json() == again.json()


def test_a_request_still_being_answered_is_409_in_progress(api, alice) -> None:
    api.post("/api/v1/files/", {"filename": "a.py", "content": "x"}, idempotency_key="busy")
    IdempotentRequest.objects.filter(key="busy").update(status_code=None)  # as while the first is answered
    response = api.post("/api/v1/files/", {"filename": "a.py", "content": "x"}, idempotency_key="busy")
    assert response.status_code == 409 and error(response)["type"] == "idempotency_in_progress"
    assert response["Retry-After"] == "2"


def test_keys_are_per_user(api, bob) -> None:
    from django.test import Client

    from accounts.services import api_key_issue
    from tests.api.conftest import Api

    bobs = Api(Client(), api_key_issue(user=bob))
    assert api.post("/api/v1/files/", {"filename": "a.py", "content": "x"}, idempotency_key="k").status_code == 201
    response = bobs.post("/api/v1/files/", {"filename": "b.py", "content": "y"}, idempotency_key="k")
    assert response.status_code == 201 and response.json()["filename"] == "b.py"


def test_a_malformed_key_is_a_validation_error(api) -> None:
    response = api.post("/api/v1/files/", {"filename": "a.py", "content": "x"}, idempotency_key="has space")
    assert response.status_code == 400 and error(response)["issues"][0]["path"] == "Idempotency-Key"


def test_a_retried_webhook_create_never_stores_or_replays_its_secret(api) -> None:
    body = {"url": "https://hooks.example.com/x", "events": ["order.filled"]}
    first = api.post("/api/v1/webhooks/", body, idempotency_key="hook-1")
    again = api.post("/api/v1/webhooks/", body, idempotency_key="hook-1")
    assert (first.status_code, again.status_code) == (201, 201) and again["Idempotent-Replayed"] == "true"
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    assert again.json()["id"] == first.json()["id"] and again.json()["secret"] is None
    assert "shown once" in again.json()["secret_note"]
    assert secret not in str(IdempotentRequest.objects.get(key="hook-1").response)
