"""The API through HTTP: a client that sends a key, keys of both scopes, and a second user's strategy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.services import api_key_issue
from strategies.models import Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files


class Api:
    """`api.get(path)`, `api.post(path, body)`: JSON in, (status, JSON) out, with `Authorization: Bearer <key>`."""

    def __init__(self, client: Client, key: str | None) -> None:
        self.client, self.key = client, key

    def _headers(self, headers: dict[str, str]) -> dict[str, Any]:
        extra: dict[str, Any] = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        if self.key is not None:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        return extra

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(path, **self._headers(headers))

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        data = json.dumps(body if body is not None else {})
        return self.client.post(path, data=data, content_type="application/json", **self._headers(headers))

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.patch(path, data=json.dumps(body), content_type="application/json",
                                 **self._headers(headers))

    def delete(self, path: str, **headers: str) -> Any:
        return self.client.delete(path, **self._headers(headers))


@pytest.fixture
def agent_key(alice) -> str:
    return api_key_issue(user=alice, label="agent", scope="agent")


@pytest.fixture
def read_key(alice) -> str:
    return api_key_issue(user=alice, label="dashboard reader", scope="read")


@pytest.fixture
def api(agent_key: str) -> Api:
    return Api(Client(), agent_key)


@pytest.fixture
def reader(read_key: str) -> Api:
    return Api(Client(), read_key)


@pytest.fixture
def anonymous() -> Api:
    return Api(Client(), None)


@pytest.fixture
def bob(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


@pytest.fixture
def bobs_strategy(bob, staff) -> Strategy:
    """Another user's approved strategy: every route must answer 404 for its ids."""
    return strategy_deploy(owner=bob, files=scripts_files(name="Bob's own"), approve_by=staff).strategy


@pytest.fixture
def connections_kept() -> Any:
    """For requests not sent by Django's test client (a tool call, a WSGI app), as the test client does:
    the request signals must not close the test's transaction.

    As Django's test client does: a tool call's request signals must not close the test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) <= {"error", "smoke"}, body  # a refused deploy also answers with its files' smoke run
    assert set(body["error"]) == {"type", "message", "issues"}, body
    return dict(body["error"])


def kalshi_files(**config: Any) -> dict[str, str]:
    return scripts_files(**config)



def config_with_raw(path: str, raw: str) -> dict[str, str]:
    """The Kalshi example's files with one config.json value (`section.key`) written as raw JSON text:
    what json.dumps will not write (`1e400`, a 100,000-deep list) or writes only loosely (`NaN`)."""
    files = kalshi_files()
    config = json.loads(files["config.json"])
    section, key = path.split(".")
    config[section][key] = "@raw@"
    files["config.json"] = json.dumps(config).replace('"@raw@"', raw)
    return files
