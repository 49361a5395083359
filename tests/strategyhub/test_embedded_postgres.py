"""The embedded PostgreSQL, the zero-configuration default: from an empty folder to a cluster that keeps its rows.

Each test runs manage.py as a newcomer would, with DATABASE_URL / REDIS_URL unset and a var/ folder of its own
(not the session's), so it starts its own cluster and leaves nothing running.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from strategyhub.lib.embedded_postgres import ACCOUNT, Cluster

pytestmark = pytest.mark.storage


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """A var/ that does not exist yet, in a short folder of its own (a unix socket path is at most 107 bytes)."""
    parent = Path(tempfile.mkdtemp(prefix="shub-"))
    parent.chmod(0o755)
    yield parent / "var"
    cluster = Cluster(parent / "var" / "postgres")
    if cluster.running():
        cluster.stop("immediate")
    shutil.rmtree(parent, ignore_errors=True)


def manage(var_dir: Path, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(STRATEGYHUB_DOTENV="off", STRATEGYHUB_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="strategyhub.settings",
               DEBUG="1", HOME=str(var_dir.parent), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "manage.py", *argv], cwd=settings.BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=300, check=False, user=user)


COUNT_USERS = "from django.contrib.auth.models import User; print(User.objects.count())"


def test_it_starts_from_nothing_migrates_stops_and_finds_its_rows_again(var_dir: Path) -> None:
    assert not var_dir.exists()
    migrated = manage(var_dir, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    cluster = Cluster(var_dir / "postgres")
    assert cluster.initialised()
    assert not cluster.running()  # the command started it, so the command stopped it

    created = manage(var_dir, "shell", "-c", "from django.contrib.auth.models import User; "
                                            "User.objects.create_user('kept', password='pw-kept-1')")
    assert created.returncode == 0, created.stderr
    assert not cluster.running()

    counted = manage(var_dir, "shell", "-c", COUNT_USERS)
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip().splitlines()[-1] == "1"
    if os.geteuid() == 0:  # PostgreSQL refuses root: the cluster belongs to the unprivileged account
        assert (var_dir / "postgres" / "data").stat().st_uid == pwd.getpwnam(ACCOUNT).pw_uid


def test_a_command_finds_a_running_cluster_and_leaves_it_running(var_dir: Path) -> None:
    cluster = Cluster(var_dir / "postgres", database="strategyhub")
    assert cluster.ensure_running()  # as `make run` and the test session do
    try:
        migrated = manage(var_dir, "migrate", "--noinput")
        assert migrated.returncode == 0, migrated.stderr
        assert cluster.running()  # not its to stop
    finally:
        cluster.stop()


def as_user(name: str, work: Callable[[], None]) -> None:
    """`work` in a forked child that became `name` (the interpreter itself may live where `name` cannot go)."""
    account = pwd.getpwnam(name)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        status = 1
        try:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            work()
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    assert os.waitpid(pid, 0)[1] == 0, f"the work failed as {name} (its traceback is in the captured stderr)"


@pytest.mark.skipif(os.geteuid() != 0, reason="this test runs as root to become an ordinary user")
def test_it_runs_as_an_ordinary_user_too(var_dir: Path) -> None:
    var_dir.parent.chmod(0o777)

    def keep_a_row_across_a_restart() -> None:
        cluster = Cluster(var_dir / "postgres", database="kept")
        assert cluster.ensure_running()
        with psycopg.connect(cluster.url("kept"), autocommit=True) as db:
            db.execute("CREATE TABLE note (text text); INSERT INTO note VALUES ('kept')")
        cluster.stop()
        assert cluster.ensure_running()
        with psycopg.connect(cluster.url("kept")) as db:
            assert db.execute("SELECT text FROM note").fetchall() == [("kept",)]
        cluster.stop()

    as_user("nobody", keep_a_row_across_a_restart)
    assert (var_dir / "postgres" / "data").stat().st_uid == pwd.getpwnam("nobody").pw_uid


def test_a_socket_path_too_long_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="set STRATEGYHUB_VAR_DIR to a shorter folder"):
        Cluster(tmp_path / ("x" * 100) / "postgres")
