"""Settings come from the environment and fail loudly, naming the variable, on a malformed value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from strategyhub.lib.env import Env, load_dotenv


def test_env_readers_parse_good_values() -> None:
    env = Env({"A": "yes", "N": " 42 ", "L": "a, b,,c", "U": "https://x.test/api/"})
    assert env.bool("A") is True
    assert env.int("N", 0) == 42
    assert env.list("L") == ["a", "b", "c"]
    assert env.url("U") == "https://x.test/api"
    assert env.str("MISSING", "d") == "d"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.bool("X"), "X must be one of 1/0, true/false, yes/no, on/off; got 'maybe'"),
        (lambda e: e.int("X", 1), "X must be a whole number, got 'maybe'"),
        (lambda e: e.url("X"), "X must be a URL starting with http:// or https://, got 'maybe'"),
    ],
)
def test_env_readers_name_the_variable_on_a_bad_value(call, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        call(Env({"X": "maybe"}))
    assert str(caught.value) == message


def test_int_bounds_are_enforced() -> None:
    with pytest.raises(ImproperlyConfigured, match="SANDBOX_MEMORY_MB must be ≥ 32, got 8"):
        Env({"SANDBOX_MEMORY_MB": "8"}).int("SANDBOX_MEMORY_MB", 256, minimum=32)


def _settings_in_subprocess(**environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(environ, STRATEGYHUB_DOTENV="off")
    return subprocess.run(
        [sys.executable, "-c", "import strategyhub.settings"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_secret_key_is_required_when_debug_is_off(tmp_path) -> None:
    result = _settings_in_subprocess(DEBUG="0", STRATEGYHUB_VAR_DIR=str(tmp_path))
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_a_malformed_database_url_stops_the_start(tmp_path) -> None:
    result = _settings_in_subprocess(SECRET_KEY="k", DATABASE_URL="mysql//nope", STRATEGYHUB_VAR_DIR=str(tmp_path))
    assert "DATABASE_URL must be a URL starting with postgres:// or postgresql://, got 'mysql//nope'" in result.stderr


def test_sqlite_is_refused_naming_the_variable(tmp_path) -> None:
    result = _settings_in_subprocess(SECRET_KEY="k", DATABASE_URL="sqlite:///x", STRATEGYHUB_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DATABASE_URL: SQLite is not supported, StrategyHub runs on PostgreSQL only" in result.stderr


def test_a_malformed_sandbox_limit_stops_the_start(tmp_path) -> None:
    result = _settings_in_subprocess(SECRET_KEY="k", SANDBOX_WALL_SECONDS="ten", STRATEGYHUB_VAR_DIR=str(tmp_path))
    assert "SANDBOX_WALL_SECONDS must be a whole number, got 'ten'" in result.stderr


def test_venues_default_to_the_simulator() -> None:
    venues: dict[str, dict[str, str]] = settings.VENUES
    assert venues["kalshi"]["api_url"] == f"{settings.VENUE_SIMULATOR_URL}/kalshi/trade-api/v2"


def test_dotenv_fills_only_what_the_environment_lacks(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STRATEGYHUB_TEST_KEPT", "real")
    monkeypatch.delenv("STRATEGYHUB_TEST_NEW", raising=False)
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nSTRATEGYHUB_TEST_KEPT=file\nSTRATEGYHUB_TEST_NEW='from file'\n")
    load_dotenv(dotenv)
    assert os.environ["STRATEGYHUB_TEST_KEPT"] == "real"
    assert os.environ.pop("STRATEGYHUB_TEST_NEW") == "from file"
    dotenv.write_text("not a pair\n")
    with pytest.raises(ImproperlyConfigured, match=r"line 1 must be KEY=VALUE"):
        load_dotenv(dotenv)
