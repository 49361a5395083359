"""Failed logins lock the account and the client address for a while, at the dashboard's door and the admin's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from django.test import Client

from accounts.logins import PREFIX

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"  # tests/conftest.py make_user's


def forget_failures(redis_client: redis.Redis) -> None:
    """Counters and locks of an earlier test (same client address, same names) must not count here."""
    for key in redis_client.scan_iter(f"*:{PREFIX}:*"):
        redis_client.delete(key)


@pytest.fixture(autouse=True)
def bounds(settings, redis_client: redis.Redis) -> Iterator[None]:
    settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_FAILURES_PER_CLIENT = 3, 5
    settings.LOGIN_LOCKOUT_SECONDS = 60
    forget_failures(redis_client)
    yield
    forget_failures(redis_client)


def log_in(client: Client, username: str, password: str, door: str = "/accounts/login/") -> int:
    return client.post(door, {"username": username, "password": password}).status_code


def logged_in(client: Client) -> bool:
    return client.get("/strategies/").status_code == 200


@pytest.mark.parametrize(("door", "staff"), [("/accounts/login/", False), ("/admin/login/", True)])
def test_the_right_password_is_refused_after_too_many_wrong_ones(make_user, door, staff) -> None:
    make_user("alice", staff=staff)
    client = Client()
    assert [log_in(client, "alice", "wrong", door) for _ in range(3)] == [200, 200, 200]
    response = client.post(door, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "Try again in 1 minute" in response.content.decode()
    assert not logged_in(client)


def test_the_lock_ends_after_the_lockout(settings, alice) -> None:
    settings.LOGIN_LOCKOUT_SECONDS = 1
    client = Client()
    for _ in range(3):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", PASSWORD) == 429
    time.sleep(2.1)
    assert log_in(client, "alice", PASSWORD) == 302 and logged_in(client)


def test_one_client_trying_many_accounts_is_throttled_by_its_address(make_user) -> None:
    make_user("carol")
    client = Client()
    for name in ("alice", "bob", "dave", "erin", "frank"):  # no account reaches its own bound of 3
        assert log_in(client, name, "wrong") == 200
    assert log_in(client, "carol", PASSWORD) == 429 and not logged_in(client)
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")
    assert log_in(elsewhere, "carol", PASSWORD) == 302 and logged_in(elsewhere)


def test_a_success_clears_the_accounts_failures(alice) -> None:
    client = Client()
    for _ in range(2):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", PASSWORD) == 302
    client.post("/accounts/logout/")
    for _ in range(2):
        assert log_in(client, "alice", "wrong") == 200
    assert log_in(client, "alice", PASSWORD) == 302 and logged_in(client)
