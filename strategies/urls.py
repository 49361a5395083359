from django.urls import path

from strategies import views

app_name = "strategies"
urlpatterns = [
    path("", views.strategy_list, name="list"),
    path("new/", views.strategy_new, name="new"),
    path("portfolio/", views.strategy_portfolio, name="portfolio"),
    path("new/upload/", views.strategy_upload, name="upload"),
    path("new/keys/", views.api_key_create_view, name="api-key-create"),
    path("new/keys/<int:key_id>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
    path("<int:strategy_id>/", views.strategy_overview, name="overview"),
    path("<int:strategy_id>/history/", views.strategy_history, name="history"),
    path("<int:strategy_id>/positions/close/", views.strategy_positions_close, name="positions-close"),
    path("<int:strategy_id>/runs/<int:execution_id>/", views.execution_detail, name="run"),
    path("<int:strategy_id>/live/", views.strategy_live, name="live"),
    path("<int:strategy_id>/status/", views.strategy_status, name="status"),
    path("<int:strategy_id>/versions/", views.strategy_versions_tab, name="versions"),
    path("<int:strategy_id>/backtests/", views.strategy_backtests, name="backtests"),
    path("<int:strategy_id>/backtests/start/", views.strategy_backtest_start, name="backtest-start"),
    path("<int:strategy_id>/backtests/sweeps/start/", views.strategy_sweep_start, name="sweep-start"),
    path("<int:strategy_id>/backtests/sweeps/<int:sweep_id>/", views.strategy_sweep, name="sweep"),
    path("<int:strategy_id>/activity.json", views.strategy_activity, name="activity"),
    path("<int:strategy_id>/pause/", views.strategy_pause_view, name="pause"),
    path("<int:strategy_id>/enable/", views.strategy_enable_view, name="enable"),
    path("<int:strategy_id>/test-run/", views.strategy_test_run_view, name="test-run"),
]
