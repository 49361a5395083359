"""Browser tests of the /strategies dashboard: Playwright drives Debian's /usr/bin/chromium (never a downloaded
browser) against the Procfile's real `web` (the front routing HTTP to gunicorn and websockets to daphne) and a real
Celery worker, all on the test database, so a Test Run's lines travel worker → Redis → daphne → the page as in
production."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Error as PlaywrightError

from tests.faults.services import ROOT, Celery, project_env, shared_database_url

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "var" / "test" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the browser tests and run them last: Playwright's sync API keeps an event loop on the main thread
    from its first test to the end of the session, which Django would take for async code in any later test."""
    browser = [item for item in items if "tests/browser/" in str(item.fspath)]
    for item in browser:
        item.add_marker(pytest.mark.browser)
    items[:] = [item for item in items if item not in browser] + browser


def pytest_runtest_setup(item: pytest.Item) -> None:
    # From the first browser test on (they run last), the test's own ORM calls run beside Playwright's loop.
    if "tests/browser/" in str(item.fspath):
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]}


@pytest.fixture(scope="session")
def dashboard(django_db_setup: None, django_db_blocker: Any, redis_url: str, _venue_simulator: Any,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web stack, one Celery worker and the slow lane's on the test database, for the whole session; yields
    the base URL."""
    assert django_db_setup is None  # requested so the test database exists before the servers connect to it
    with django_db_blocker.unblock():
        database_url = shared_database_url()
    folder = tmp_path_factory.mktemp("dashboard")
    env = project_env(database_url=database_url, redis_url=settings.REDIS_URL,
                      VENUE_SIMULATOR_URL=_venue_simulator.url, SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0",
                      ALLOWED_HOSTS="127.0.0.1,localhost,testserver", LOG_LEVEL="WARNING")
    services = Celery(env, Path(folder))
    try:
        port = services.start_web()
        services.start_worker(concurrency=1)
        # the slow lane, as the Procfile's `worker-slow`: a parameter sweep's points run there
        services.start_worker(concurrency=1, name="worker-slow", queues=f"{env['CELERY_QUEUE']}.slow")
        yield f"http://127.0.0.1:{port}"
    finally:
        services.stop_all()
        print(f"\ndashboard logs in {folder}")


@pytest.fixture
def console_errors(page: Any) -> Iterator[list[str]]:
    """Every console error and uncaught exception of the page; the test fails if any is left."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    yield errors
    assert errors == [], errors


@pytest.fixture
def screenshot(page: Any) -> Callable[[str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        try:
            page.screenshot(path=str(path), full_page=full_page)
        except PlaywrightError as error:
            # The page navigated while it was captured: a live event reloads it (a backtest that ends just then).
            # A picture of what it shows once loaded; what the test checks is in its assertions, not here.
            if "Unable to capture screenshot" not in str(error):
                raise
            page.wait_for_load_state("load")
            page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")
        return path

    return take
