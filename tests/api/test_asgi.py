"""The API under daphne, as in production: requests do not pile up database connections."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

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


def _sessions() -> int:
    """Sessions ever opened to the test database: a backend reports its own at most once a second."""
    time.sleep(1.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s",
                       [settings.DATABASES["default"]["NAME"]])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="counts Postgres clients")
def test_requests_under_daphne_reuse_a_bounded_pool_of_connections(alice, daphne, redis_client) -> None:  # noqa: F811
    key = api_key_issue(user=alice)
    base = daphne.removesuffix("/mcp")
    others = _connections()  # this test's own, and any an earlier test left open
    with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        assert http.get("/api/v1/strategies/").status_code == 200
        before = _sessions()
        redis_before = redis_client.info("stats")["total_connections_received"]
        for _ in range(20):
            assert http.get("/api/v1/strategies/").status_code == 200
        with ThreadPoolExecutor(max_workers=20) as pool:  # more requests at once than the pool has connections
            codes = list(pool.map(lambda _: http.get("/api/v1/strategies/").status_code, range(60)))
        assert codes == [200] * 60
        redis_opened = redis_client.info("stats")["total_connections_received"] - redis_before
        opened = _sessions() - before
        connected = _connections()
    assert opened <= settings.DATABASE_POOL_SIZE, f"{opened} new connections for 80 requests"
    # The throttle's cache: one pool per process, not a connection per request (this Redis may serve others too)
    assert redis_opened < 40, f"{redis_opened} new Redis connections for 80 requests"
    assert connected - others <= settings.DATABASE_POOL_SIZE  # daphne holds its pool, no more
