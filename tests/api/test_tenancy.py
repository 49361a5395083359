"""Every route: another user's ids are 404 (never 403, never their data), and a read key gets 403 on every write."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiKey
from accounts.services import api_key_issue
from chatfiles.models import ChatFile
from strategies.backtests import BacktestData, backtest_create, sweep_create
from strategies.cycle.run import execution_run
from strategies.models import Backtest, Execution, Sweep
from tests.api.conftest import error, kalshi_files
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_endpoint_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

# (method, path, body) with {strategy}, {execution}, {backtest}, {sweep}, {file}, {key}, {webhook} filled with the other
# user's ids.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/files/{file}/", None),
    ("GET", "/api/v1/strategies/{strategy}/", None),
    ("GET", "/api/v1/strategies/{strategy}/versions/", None),
    ("POST", "/api/v1/strategies/{strategy}/versions/", {"files": {"exit.py": "def should_exit(ctx, p):\n    return None\n"}}),
    ("GET", "/api/v1/strategies/{strategy}/versions/1/", None),
    ("GET", "/api/v1/strategies/{strategy}/versions/1/diff/1/", None),
    ("POST", "/api/v1/strategies/{strategy}/pause/", {}),
    ("POST", "/api/v1/strategies/{strategy}/enable/", {}),
    ("POST", "/api/v1/strategies/{strategy}/test-run/", {}),
    ("POST", "/api/v1/strategies/{strategy}/run/", {}),
    ("POST", "/api/v1/strategies/{strategy}/archive/", {}),
    ("POST", "/api/v1/strategies/{strategy}/clone/", {"name": "Mine now"}),
    ("GET", "/api/v1/strategies/{strategy}/executions/", None),
    ("GET", "/api/v1/strategies/{strategy}/positions/", None),
    ("GET", "/api/v1/strategies/{strategy}/orders/", None),
    ("GET", "/api/v1/strategies/{strategy}/performance/", None),
    ("GET", "/api/v1/strategies/{strategy}/graduation/", None),
    ("GET", "/api/v1/strategies/{strategy}/backtests/", None),
    ("POST", "/api/v1/strategies/{strategy}/backtests/", {}),
    ("GET", "/api/v1/backtests/{backtest}/", None),
    ("DELETE", "/api/v1/backtests/{backtest}/", None),
    ("GET", "/api/v1/strategies/{strategy}/backtests/sweeps/", None),
    ("POST", "/api/v1/strategies/{strategy}/backtests/sweeps/", {"parameters": {"x": [1, 2]}}),
    ("GET", "/api/v1/sweeps/{sweep}/", None),
    ("DELETE", "/api/v1/sweeps/{sweep}/", None),
    ("GET", "/api/v1/executions/{execution}/", None),
    ("PATCH", "/api/v1/keys/{key}/", {"label": "mine now"}),
    ("POST", "/api/v1/keys/{key}/revoke/", {}),
    ("GET", "/api/v1/webhooks/{webhook}/", None),
    ("PATCH", "/api/v1/webhooks/{webhook}/", {"enabled": False}),
    ("DELETE", "/api/v1/webhooks/{webhook}/", None),
    ("GET", "/api/v1/webhooks/{webhook}/deliveries/", None),
    ("POST", "/api/v1/webhooks/{webhook}/test/", {}),
]
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/files/", {"filename": "entry.py", "content": "x = 1\n"}),
    ("POST", "/api/v1/strategies/", {"files": {}}),
    ("POST", "/api/v1/webhooks/", {"url": "https://example.com/hook", "events": ["order.filled"]}),
]
WRITES += [(method, path, dict(body or {})) for method, path, body in ROUTES if method != "GET"]


def test_the_route_tables_cover_every_api_route() -> None:
    api = next(p for p in get_resolver().url_patterns if str(getattr(p, "pattern", "")) == "api/v1/")
    assert isinstance(api, URLResolver)
    names = {p.name for p in api.url_patterns if isinstance(p, URLPattern)}
    covered = {"file-detail", "strategy-detail", "version-list", "version-detail", "version-diff", "strategy-pause",
               "strategy-enable", "strategy-test-run", "strategy-run", "execution-list", "position-list",
               "order-list", "strategy-performance", "strategy-graduation", "execution-detail", "key-detail",
               "key-revoke", "backtest-list", "backtest-detail", "webhook-detail", "webhook-deliveries",
               "webhook-test", "strategy-archive", "strategy-clone", "sweep-list", "sweep-detail"}
    caller_scoped = {"file-create", "strategy-list", "key-list", "webhook-list", "tools"}  # no id in the path: the caller's own
    caller_scoped |= {"market-list", "wallet-list"}  # the venue's own public listings: no one's objects
    assert names == covered | caller_scoped


@pytest.fixture
def others(bob, bobs_strategy) -> dict[str, int]:
    execution = execution_run(strategy_id=bobs_strategy.pk, trigger="manual", dry_run=True)
    api_key_issue(user=bob, label="bob's key")
    backtest = backtest_create(version=bobs_strategy.current_version, created_by=bob,
                               data=BacktestData(Backtest.Source.POLYMARKET_RECORDED, {"set": "books"}))
    sweep = sweep_create(version=bobs_strategy.current_version, created_by=bob,
                         data=BacktestData(Backtest.Source.POLYMARKET_RECORDED, {"set": "books"}),
                         parameters={next(iter(bobs_strategy.current_version.config["parameters"])): [1, 2]})
    return {"strategy": bobs_strategy.pk, "execution": execution.pk, "backtest": backtest.pk, "sweep": sweep.pk,
            "file": ChatFile.objects.filter(owner=bob).first().pk,  # type: ignore[union-attr]
            "key": ApiKey.objects.get(user=bob).pk,
            "webhook": webhook_endpoint_create(user=bob, url="https://example.com/bob", events=["order.filled"]).pk}


def _send(client: Any, method: str, path: str, body: dict[str, Any] | None) -> Any:
    if method == "GET":
        return client.get(path)
    if method == "DELETE":
        return client.delete(path)
    if method == "PATCH":
        return client.patch(path, body)
    return client.post(path, body)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_another_users_ids_are_404(api, others, bobs_strategy, method, path, body) -> None:
    before = (bobs_strategy.versions.count(), Execution.objects.filter(strategy=bobs_strategy).count())
    response = _send(api, method, path.format(**others), body)
    assert response.status_code == 404, response.content
    assert error(response)["type"] == "not_found"
    bobs_strategy.refresh_from_db()
    assert bobs_strategy.enabled and bobs_strategy.versions.count() == before[0]
    assert Execution.objects.filter(strategy=bobs_strategy).count() == before[1]
    assert ApiKey.objects.get(pk=others["key"]).label == "bob's key"
    assert list(Backtest.objects.filter(strategy=bobs_strategy, sweep__isnull=True).values_list(
        "status", flat=True)) == ["queued"]
    assert Sweep.objects.get(pk=others["sweep"]).status == "queued" and not Sweep.objects.get(
        pk=others["sweep"]).cancel_requested
    assert WebhookEndpoint.objects.get(pk=others["webhook"]).enabled
    assert not WebhookDelivery.objects.filter(endpoint_id=others["webhook"]).exists()


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_read_key_gets_403_on_every_write(reader, alice, agent_key, staff, method, path, body) -> None:
    from strategies.services import strategy_deploy

    mine = strategy_deploy(owner=alice, files=kalshi_files(), approve_by=staff).strategy
    ids = {"strategy": mine.pk, "execution": 0, "backtest": 0, "file": 0, "key": ApiKey.objects.get(label="agent").pk,
           "webhook": 0, "sweep": 0}
    response = _send(reader, method, path.format(**ids), body)
    assert response.status_code == 403, response.content
    assert error(response)["type"] == "permission_denied"
    mine.refresh_from_db()
    assert mine.enabled and mine.versions.count() == 1 and not mine.executions.exists()
    assert not mine.backtests.exists() and not mine.sweeps.exists()
    assert not WebhookEndpoint.objects.exists()
