"""/api/v1/: the paths agents and tests rely on (docs/api.md). Ids are whole numbers of at most 18 digits."""

from __future__ import annotations

from django.urls import path, register_converter

from api import schema  # noqa: F401 - registers the API key scheme
from api.views import backtests, executions, files, keys, ledger, markets, strategies, versions, webhooks


class IdConverter:
    regex = "[0-9]{1,18}"  # a longer number is no row of ours: 404, not a database overflow

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

app_name = "api"
urlpatterns = [
    path("files/", files.FileCreateView.as_view(), name="file-create"),
    path("files/<id:file_id>/", files.FileDetailView.as_view(), name="file-detail"),
    path("strategies/", strategies.StrategyListView.as_view(), name="strategy-list"),
    path("strategies/<id:strategy_id>/", strategies.StrategyDetailView.as_view(), name="strategy-detail"),
    path("strategies/<id:strategy_id>/versions/", versions.VersionListView.as_view(), name="version-list"),
    path("strategies/<id:strategy_id>/versions/<id:number>/", versions.VersionDetailView.as_view(),
         name="version-detail"),
    path("strategies/<id:strategy_id>/versions/<id:a>/diff/<id:b>/", versions.VersionDiffView.as_view(),
         name="version-diff"),
    path("strategies/<id:strategy_id>/pause/", strategies.PauseView.as_view(), name="strategy-pause"),
    path("strategies/<id:strategy_id>/enable/", strategies.EnableView.as_view(), name="strategy-enable"),
    path("strategies/<id:strategy_id>/archive/", strategies.ArchiveView.as_view(), name="strategy-archive"),
    path("strategies/<id:strategy_id>/clone/", strategies.CloneView.as_view(), name="strategy-clone"),
    path("strategies/<id:strategy_id>/test-run/", strategies.TestRunView.as_view(), name="strategy-test-run"),
    path("strategies/<id:strategy_id>/run/", strategies.RunNowView.as_view(), name="strategy-run"),
    path("strategies/<id:strategy_id>/executions/", executions.ExecutionListView.as_view(), name="execution-list"),
    path("strategies/<id:strategy_id>/positions/", ledger.PositionListView.as_view(), name="position-list"),
    path("strategies/<id:strategy_id>/orders/", ledger.OrderListView.as_view(), name="order-list"),
    path("strategies/<id:strategy_id>/performance/", strategies.PerformanceView.as_view(), name="strategy-performance"),
    path("strategies/<id:strategy_id>/graduation/", strategies.GraduationView.as_view(), name="strategy-graduation"),
    path("strategies/<id:strategy_id>/backtests/", backtests.BacktestListView.as_view(), name="backtest-list"),
    path("strategies/<id:strategy_id>/backtests/sweeps/", backtests.SweepListView.as_view(), name="sweep-list"),
    path("backtests/<id:backtest_id>/", backtests.BacktestDetailView.as_view(), name="backtest-detail"),
    path("sweeps/<id:sweep_id>/", backtests.SweepDetailView.as_view(), name="sweep-detail"),
    path("executions/<id:execution_id>/", executions.ExecutionDetailView.as_view(), name="execution-detail"),
    path("keys/", keys.KeyListView.as_view(), name="key-list"),
    path("keys/<id:key_id>/", keys.KeyDetailView.as_view(), name="key-detail"),
    path("keys/<id:key_id>/revoke/", keys.KeyRevokeView.as_view(), name="key-revoke"),
    path("webhooks/", webhooks.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<id:webhook_id>/", webhooks.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<id:webhook_id>/deliveries/", webhooks.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhooks/<id:webhook_id>/test/", webhooks.WebhookTestView.as_view(), name="webhook-test"),
    path("markets/", markets.MarketListView.as_view(), name="market-list"),
    path("wallets/", markets.WalletListView.as_view(), name="wallet-list"),
    path("tools/", keys.ToolsView.as_view(), name="tools"),
]
