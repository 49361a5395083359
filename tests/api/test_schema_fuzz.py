"""Schemathesis over the published OpenAPI schema (/api/v1/schema/): every operation, generated inputs, a real
key and database. No input gets a 5xx, and every documented answer matches the schema."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from accounts.services import api_key_issue
from strategies.services import strategy_deploy
from tests.conftest import scripts_files

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
EXAMPLES = 12  # per operation: the whole fuzz stays well under a minute
CASES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _cases_summary() -> Any:
    yield
    codes = Counter(case.rsplit(" ", 1)[1] for case in CASES)
    print(f"\nschemathesis: {len(CASES)} cases, answers {dict(sorted(codes.items()))}")


@pytest.fixture
def fuzz_key(settings: Any) -> str:
    settings.API_THROTTLE_RATES = {"read": None, "write": None}
    user = pytest.importorskip("django.contrib.auth").get_user_model().objects.create_user("fuzzer")
    strategy_deploy(owner=user, files=scripts_files())  # id 1-ish objects exist, so some ids hit real rows
    return api_key_issue(user=user)


@pytest.mark.django_db
@pytest.mark.usefixtures("venues_on_simulator", "connections_kept")
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_input_gets_a_5xx_and_answers_match_the_schema(case: Any, fuzz_key: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {fuzz_key}"})
    CASES.append(f"{case.method} {case.path} {response.status_code}")
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance,
                                             content_type_conformance])


def test_the_schema_documents_the_error_shape_and_every_route(client: Any) -> None:
    import yaml

    published = yaml.safe_load(client.get("/api/v1/schema/").content)
    assert {"Error", "ErrorDetail", "Issue"} <= set(published["components"]["schemas"])
    paths = set(published["paths"])
    assert "/api/v1/strategies/{strategy_id}/versions/{a}/diff/{b}/" in paths
    assert {"/api/v1/strategies/{strategy_id}/backtests/", "/api/v1/backtests/{backtest_id}/"} <= paths
    assert {"/api/v1/webhooks/", "/api/v1/webhooks/{webhook_id}/", "/api/v1/webhooks/{webhook_id}/deliveries/",
            "/api/v1/webhooks/{webhook_id}/test/"} <= paths
    assert {"/api/v1/strategies/{strategy_id}/archive/", "/api/v1/strategies/{strategy_id}/clone/",
            "/api/v1/markets/", "/api/v1/wallets/"} <= paths
    assert len(paths) == 34  # the 33 routes of api/urls.py and the schema itself
    assert published["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
