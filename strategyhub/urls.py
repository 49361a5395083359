from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from strategyhub import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("strategies/", include("strategies.urls")),
    path("api/v1/schema/strategy-config.json", views.strategy_config_schema, name="strategy-config-schema"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/v1/", include("api.urls")),
]

handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
