"""Worker "hosts" on this machine for the scale-out tests: each a network namespace of its own on a bridge
(its own address, reached from the root namespace like a machine on the LAN), with its own UTS and PID
namespaces, so it has its own hostname and numbers its processes from 1, as a container or a VM does.

The shared services (Postgres, Redis, the venue simulator, beat) stay in the root namespace and listen on
the bridge's address. Cutting a host off is taking its link down: its TCP connections stay open and hang,
as across a failed switch port, until the link comes back. Killing a host is SIGKILL to the first process
of its PID namespace: the kernel then kills every process in it, the whole tree at once.

Needs root, `ip` (iproute2) and `unshare` (util-linux); the test fails, never skips, without them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Its own hostname, then celery: a host's first process (pid 1 of its PID namespace).
LAUNCH = ("import os, socket, sys; socket.sethostname(sys.argv[1]); "
          "os.execv(sys.executable, [sys.executable, '-m', 'celery', *sys.argv[2:]])")


def ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True, timeout=30)


def missing_tools() -> list[str]:
    problems = [f"`{tool}` is not installed" for tool in ("ip", "unshare") if shutil.which(tool) is None]
    if os.geteuid() != 0:
        problems.append("network namespaces need root (CI runs the suite as root)")
    return problems


class Lan:
    """A bridge in the root namespace, `10.<a>.<b>.1/24`: the address the shared services listen on."""

    def __init__(self) -> None:
        tag = uuid.uuid4()
        self.bridge = f"shbr{tag.hex[:8]}"
        self.prefix = f"10.{200 + tag.bytes[0] % 50}.{tag.bytes[1]}"  # a /24 unlikely to be in use here
        self.address = f"{self.prefix}.1"
        self.hosts = 0

    def create(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("link", "del", self.bridge)


class Host:
    """One worker machine: netns + veth to the bridge, and (per worker start) fresh UTS and PID namespaces."""

    def __init__(self, lan: Lan, hostname: str) -> None:
        lan.hosts += 1
        tag = uuid.uuid4().hex[:8]
        self.lan, self.hostname = lan, hostname
        self.netns, self.outside, self.inside = f"sh-{tag}", f"sho{tag}", f"shi{tag}"
        self.address = f"{lan.prefix}.{lan.hosts + 1}"
        self.process: subprocess.Popen[bytes] | None = None

    def create(self) -> None:
        ip("netns", "add", self.netns)
        ip("link", "add", self.outside, "type", "veth", "peer", "name", self.inside, "netns", self.netns)
        ip("link", "set", self.outside, "master", self.lan.bridge)
        ip("link", "set", self.outside, "up")
        ip("-n", self.netns, "addr", "add", f"{self.address}/24", "dev", self.inside)
        ip("-n", self.netns, "link", "set", self.inside, "up")
        ip("-n", self.netns, "link", "set", "lo", "up")

    def cut(self) -> None:
        """The link goes down: every packet to or from this host is lost; its processes keep running."""
        ip("link", "set", self.outside, "down")

    def restore(self) -> None:
        ip("link", "set", self.outside, "up")

    def start_worker(self, env: dict[str, str], log: Path, *, concurrency: int = 2) -> None:
        command = ["ip", "netns", "exec", self.netns, "unshare", "--uts", "--pid", "--fork", "--mount-proc",
                   "--kill-child", sys.executable, "-c", LAUNCH, self.hostname,
                   "-A", "strategyhub", "worker", "--loglevel=INFO", "--pool", "prefork", f"--concurrency={concurrency}",
                   "--without-gossip", "--without-mingle", "-n", f"{self.netns}@%h"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def first_process(self) -> int | None:
        """The pid (in our namespace) of the host's pid 1: unshare's only child."""
        if self.process is None or self.process.poll() is not None:
            return None
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            return int(children[0]) if children else None
        return None

    def claims_as(self) -> str:
        """The host part of the host:pid its worker claims runs with (strategyhub.lib.workers.worker_id)."""
        first = self.first_process()
        assert first is not None, "the host's worker is not running"
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        namespace = os.readlink(f"/proc/{first}/ns/pid").removeprefix("pid:[").removesuffix("]")
        return f"{self.hostname}@{boot}.{namespace}"

    def kill(self) -> None:
        """SIGKILL to the host's pid 1: the kernel kills every other process of its PID namespace with it."""
        first = self.first_process()
        if first is not None:
            os.kill(first, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown of the worker (it finishes what it runs), then the kill if it hangs."""
        first = self.first_process()
        if first is not None:
            os.kill(first, signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove(self) -> None:
        self.kill()
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("netns", "del", self.netns)  # the veth pair goes with it


@contextlib.contextmanager
def lan_with_hosts(*hostnames: str) -> Iterator[tuple[Lan, list[Host]]]:
    """A bridge and one host per hostname (hostnames may repeat, as cloned machines' do); all removed after."""
    lan = Lan()
    hosts = [Host(lan, hostname) for hostname in hostnames]
    try:
        lan.create()
        for host in hosts:
            host.create()
        yield lan, hosts
    finally:
        for host in hosts:
            host.remove()
        lan.remove()
