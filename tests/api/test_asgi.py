"""The API under daphne, as in production: requests do not pile up database connections."""

from __future__ import annotations

import httpx2
import pytest
from django.conf import settings
from django.db import connection

from accounts.services import api_key_issue
from tests.api.test_mcp import daphne  # noqa: F401 - the fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("venues_on_simulator")]


def _connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [settings.DATABASES["default"]["NAME"]])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="counts Postgres clients")
def test_requests_under_daphne_leave_no_database_connection_behind(alice, daphne) -> None:  # noqa: F811
    key = api_key_issue(user=alice)
    base = daphne.removesuffix("/mcp")
    with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.get("/api/v1/strategies/").status_code == 200
        before = _connections()
        for _ in range(25):
            assert http.get("/api/v1/strategies/").status_code == 200
    assert _connections() <= before + 1
