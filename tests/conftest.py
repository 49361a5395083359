"""Fixtures shared by the whole suite: users, the shipped example strategies, a real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

EXAMPLES = Path(settings.BASE_DIR) / "strategies" / "examples"


_STOP_AT_THE_END: list[Callable[[], None]] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    """With DATABASE_URL / REDIS_URL unset, the embedded PostgreSQL (var/test/postgres/) and Redis start before
    the first test, so no test depends on which ran before it, and stop after the last if the session started them.
    """
    from strategyhub.lib import embedded_postgres, embedded_redis

    if settings.EMBEDDED_POSTGRES:
        cluster = embedded_postgres.project_cluster()
        if cluster.ensure_running():
            _STOP_AT_THE_END.append(cluster.stop)
    if settings.EMBEDDED_REDIS and embedded_redis.ensure_running(settings.EMBEDDED_REDIS_SOCKET):
        _STOP_AT_THE_END.append(lambda: embedded_redis.shutdown(settings.EMBEDDED_REDIS_SOCKET))


def pytest_sessionfinish(session: pytest.Session) -> None:
    while _STOP_AT_THE_END:
        _STOP_AT_THE_END.pop()()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The project's Redis: the machine's when REDIS_URL is set, else the embedded one (started with the session)."""
    return settings.REDIS_URL


@pytest.fixture(scope="session")
def _venue_simulator() -> Iterator[Any]:
    from trading.simulator import SimulatorConfig, VenueSimulator
    from trading.venues import simulator_key_dir

    simulator = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def venues_on_simulator(settings, _venue_simulator: Any) -> Any:
    """Every adapter pointed at a frozen simulator on a free port (never a developer's running one)."""
    settings.VENUE_SIMULATOR_URL = _venue_simulator.url
    settings.VENUES = {
        venue: {**settings.VENUES[venue], **urls} for venue, urls in _venue_simulator.venue_urls().items()
    }
    yield _venue_simulator
    _venue_simulator.faults.clear()


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def grant(user: AbstractUser, *codenames: str) -> AbstractUser:
    """Give `user` permissions by codename ("approve_paper", "strategies.approve_live", ...); returns it fresh."""
    from django.contrib.auth.models import Permission

    for codename in codenames:
        app_label, _, name = codename.rpartition(".")
        permissions = Permission.objects.filter(codename=name)
        user.user_permissions.add(permissions.get(content_type__app_label=app_label) if app_label
                                  else permissions.get())
    return get_user_model().objects.get(pk=user.pk)  # a fresh object: no stale permission cache


@pytest.fixture
def make_user(db: None) -> Callable[..., AbstractUser]:
    def make(username: str = "alice", *, staff: bool = False, password: str = "pw-for-tests-1",
             perms: tuple[str, ...] = ()) -> AbstractUser:
        user = get_user_model().objects.create_user(username=username, password=password, is_staff=staff)
        return grant(user, *perms) if perms else user

    return make


@pytest.fixture
def alice(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    return make_user("alice")


REVIEWER_PERMS = ("strategies.approve_paper", "strategies.approve_live")


@pytest.fixture
def staff(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    """A reviewer: staff who may approve paper and live (never their own strategy for live)."""
    return make_user("reviewer", staff=True, perms=REVIEWER_PERMS)


def example_files(name: str) -> dict[str, str]:
    folder = EXAMPLES / name
    return {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}


def scripts_files(**config_changes: Any) -> dict[str, str]:
    """The Kalshi example (scripts layout) with top-level config keys replaced."""
    files = example_files("kalshi_favourite_longshot")
    config = json.loads(files["config.json"])
    config.update(config_changes)
    files["config.json"] = json.dumps(config)
    return files
