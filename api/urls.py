"""/api/v1/: the paths agents and tests rely on (docs/api.md). Ids are whole numbers of at most 18 digits."""

from __future__ import annotations

from django.urls import path, register_converter

from api import schema, views  # noqa: F401 - schema registers the API key scheme


class IdConverter:
    regex = "[0-9]{1,18}"  # a longer number is no row of ours: 404, not a database overflow

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

app_name = "api"
urlpatterns = [
    path("files/", views.FileCreateView.as_view(), name="file-create"),
    path("files/<id:file_id>/", views.FileDetailView.as_view(), name="file-detail"),
    path("strategies/", views.StrategyListView.as_view(), name="strategy-list"),
    path("strategies/<id:strategy_id>/", views.StrategyDetailView.as_view(), name="strategy-detail"),
    path("strategies/<id:strategy_id>/versions/", views.VersionListView.as_view(), name="version-list"),
    path("strategies/<id:strategy_id>/versions/<id:number>/", views.VersionDetailView.as_view(),
         name="version-detail"),
    path("strategies/<id:strategy_id>/versions/<id:a>/diff/<id:b>/", views.VersionDiffView.as_view(),
         name="version-diff"),
    path("strategies/<id:strategy_id>/pause/", views.PauseView.as_view(), name="strategy-pause"),
    path("strategies/<id:strategy_id>/enable/", views.EnableView.as_view(), name="strategy-enable"),
    path("strategies/<id:strategy_id>/test-run/", views.TestRunView.as_view(), name="strategy-test-run"),
    path("strategies/<id:strategy_id>/run/", views.RunNowView.as_view(), name="strategy-run"),
    path("strategies/<id:strategy_id>/executions/", views.ExecutionListView.as_view(), name="execution-list"),
    path("strategies/<id:strategy_id>/positions/", views.PositionListView.as_view(), name="position-list"),
    path("strategies/<id:strategy_id>/orders/", views.OrderListView.as_view(), name="order-list"),
    path("strategies/<id:strategy_id>/performance/", views.PerformanceView.as_view(), name="strategy-performance"),
    path("strategies/<id:strategy_id>/graduation/", views.GraduationView.as_view(), name="strategy-graduation"),
    path("strategies/<id:strategy_id>/backtests/", views.BacktestListView.as_view(), name="backtest-list"),
    path("backtests/<id:backtest_id>/", views.BacktestDetailView.as_view(), name="backtest-detail"),
    path("executions/<id:execution_id>/", views.ExecutionDetailView.as_view(), name="execution-detail"),
    path("keys/", views.KeyListView.as_view(), name="key-list"),
    path("keys/<id:key_id>/", views.KeyDetailView.as_view(), name="key-detail"),
    path("keys/<id:key_id>/revoke/", views.KeyRevokeView.as_view(), name="key-revoke"),
    path("webhooks/", views.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<id:webhook_id>/", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<id:webhook_id>/deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhooks/<id:webhook_id>/test/", views.WebhookTestView.as_view(), name="webhook-test"),
    path("tools/", views.ToolsView.as_view(), name="tools"),
]
