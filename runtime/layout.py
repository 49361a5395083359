"""What the sandbox sees: the repository files and packages bound read-only, and bubblewrap's argv.

Without bubblewrap (weak mode, development only) the same files are copied to a private folder.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from runtime.limits import SandboxLimits

REPO_ROOT = Path(__file__).resolve().parents[1]
# Only these files of the repository exist inside the sandbox: the runtime and its SDK (runtime/), the names strategy
# code imports it by (strategies/sdk.py, servers/strategies.py), no settings, no .env.
# From trading/, only the pure desk a backtest runs inside the sandbox (docs/backtest.md): the engine and its data
# types, sizing, risk, fees, the paper fill, the desk core, the platform names and the book shapes. Inside, `trading`
# and `trading.venues` are namespace packages holding just these (no adapter, no ledger, no settings).
APP_FILES = (
    "strategies/__init__.py", "strategies/sdk.py", "servers/__init__.py", "servers/strategies.py",
    "trading/venues/platforms.py", "trading/venues/domain.py", "trading/capital.py", "trading/risk.py",
    "trading/fees.py", "trading/paper.py", "trading/desk_core.py", "trading/backtest/__init__.py",
    "trading/backtest/data.py", "trading/backtest/engine.py",
)
APP_DIRS = ("runtime",)
DEFAULT_PACKAGES = ("numpy", "numpy.libs", "pandas", "pandas.libs", "dateutil", "pytz", "tzdata", "six")
SANDBOX_UID = 65534  # "nobody" inside the user namespace
SANDBOX_TMP = "/tmp"  # noqa: S108 - a tmpfs of the sandbox's own mount namespace, never the host's /tmp
SANDBOX_APP, SANDBOX_SITE, SANDBOX_SCRATCH = "/sandbox/app", "/sandbox/site", f"{SANDBOX_TMP}/runs"
SANDBOX_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "HOME": SANDBOX_TMP,
    "OPENBLAS_NUM_THREADS": "1",  # numpy's BLAS threads would each reserve address space
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
}


@dataclass(frozen=True)
class Layout:
    python: str
    prefix: str
    binds: tuple[tuple[str, str], ...]  # (host path, sandbox path), read-only
    path_head: tuple[str, ...]
    path_tail: tuple[str, ...]
    read_paths: tuple[str, ...]
    scratch_root: str


def _site_packages() -> list[Path]:
    return [Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]


def _package_dirs(names: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for site in _site_packages():
        for name in names:
            for candidate in (site / name, site / f"{name}.py"):
                if name not in found and candidate.exists():
                    found[name] = candidate
    return found


def bwrap_layout(packages: tuple[str, ...]) -> Layout:
    python = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    binds = [(str(REPO_ROOT / rel), f"{SANDBOX_APP}/{rel}") for rel in (*APP_FILES, *APP_DIRS)]
    binds += [(str(path), f"{SANDBOX_SITE}/{path.name}") for path in _package_dirs(packages).values()]
    if not prefix.startswith("/usr/"):
        binds.append((prefix, prefix))
    return Layout(
        python=python,
        prefix=prefix,
        binds=tuple(binds),
        path_head=(SANDBOX_APP,),
        path_tail=(SANDBOX_SITE,),
        read_paths=("/usr", prefix, "/sandbox", "/dev/urandom", "/dev/random", "/dev/zero"),
        scratch_root=SANDBOX_SCRATCH,
    )


def host_layout(work_dir: Path) -> Layout:
    """Weak mode without bubblewrap: the runtime is copied to a private folder; the host is visible."""
    app = work_dir / "app"
    for rel in APP_FILES:
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / rel, app / rel)
    for rel in APP_DIRS:
        shutil.copytree(REPO_ROOT / rel, app / rel, ignore=shutil.ignore_patterns("__pycache__"))
    prefix = os.path.realpath(sys.base_prefix)
    sites = tuple(str(site) for site in _site_packages())
    return Layout(
        python=os.path.realpath(sys.executable),
        prefix=prefix,
        binds=(),
        path_head=(str(app),),
        path_tail=sites,
        read_paths=("/usr", prefix, str(app), *sites, "/dev/urandom", "/dev/random", "/dev/zero"),
        scratch_root=str(work_dir / "runs"),
    )


def bwrap_command(bwrap: str, layout: Layout, info_fd: int, limits: SandboxLimits) -> list[str]:
    """bubblewrap's argv: fresh namespaces, no capabilities, the read-only binds of `layout`, its own /tmp."""
    argv = [
        bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
        "--clearenv", "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--hostname", "strategy", "--info-fd", str(info_fd),
    ]  # fmt: skip
    for name, value in SANDBOX_ENV.items():
        argv += ["--setenv", name, value]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("lib", "lib64", "bin", "sbin"):
        path = f"/{top}"
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for host, inside in layout.binds:
        argv += ["--ro-bind", host, inside]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    argv += ["--size", str(int(limits.scratch_mb) * 1024 * 1024), "--tmpfs", SANDBOX_TMP]
    argv += ["--remount-ro", "/", "--chdir", SANDBOX_TMP]
    return argv
