"""Warm sessions: a strategy version's scheduled cycles served by one sandboxed process that stays alive.

A cold cycle is a run forked by the zygote: it confines itself, reads the files, compiles and runs them,
and exits. A warm session is a run of the same zygote, under the same bubblewrap, Landlock and rlimits,
that has compiled ONE strategy version of ONE owner once and then forks a fresh child per cycle; the
child stacks the run's own seccomp filter and runs the cycle exactly as a cold run does from ``ready`` on
(runtime/warm_child.py). What a cycle leaves in memory dies with its child; what it writes is deleted
before the next one; the session process never runs user code. Each cycle is one frame in and the
cycle's own descriptors out; the cycle's frames (ready, logs, venue calls, result) and its verdict are
a cold run's (``RunSession``, ``protocol.Run``), so every limit and check holds unchanged.

``WarmSessions`` holds a worker process's sessions in a bounded LRU, keyed by (owner, version, the
files' hash, platform, limits): a new version, other files or other limits get a new session. Sessions
live in sandboxes (zygotes) of their own, at most ``per_sandbox`` in each: every process of a sandbox
runs as one user and RLIMIT_NPROC counts them all, so idle sessions must not eat the thread allowance
of cold runs, and a session's allowance is raised by the neighbours it may have. A session
is retired after ``recycle_cycles`` cycles or ``recycle_seconds``, when the LRU is over ``size`` sessions
or ``memory_mb`` (the sessions' peak resident memory, an upper bound), and on any sign of trouble: a
cycle that did not succeed, a timeout, a protocol error, a child that did not exit cleanly, a session
that could not empty its scratch folder. When no session can serve a cycle before the cycle started,
the cycle runs cold. A full LRU makes room for a new version only by evicting a session idle for
``evict_idle_seconds`` or longer; otherwise the newcomer runs cold. More strategies than ``size`` cycling
in turn would else start a session for every cycle (dearer than a cold run) and evict one each time:
the frequent ones keep their sessions, the rest run as before. A worker process starts at most one session
every ``start_gap_seconds``; a version that finds the gap not yet over runs cold and gets its session at a
later cycle. Without the gap a worker's first seconds started a session for every version it met, each
dearer than a cold run, all at once: at 1,000 strategies x 10 s that burst held lag p99 near 3 s for half
a minute. With ``start_in_background`` (the workers' setting) the cycle that finds no session runs cold at once
and its session starts on a thread of its own, one at a time per worker process, so a start (a session sandbox's
zygote, the fork, confinement, compiling the files) is never on a slot's path; the next cycle finds the session.
A worker process starts none in its first ``first_start_after_seconds``: its first cycles run cold while its own
zygote and first runs have the cores.

    sessions = WarmSessions(size=64)
    outcome = sessions.run_cycle(("owner-7", "version-12"), files, ctx, on_call, limits)
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import replace
from typing import Any

from runtime.channel import FrameDecoder, ProtocolError, encode_frame, wait_ready
from runtime.limits import SandboxLimits
from runtime.loader import strategy_hash
from runtime.outcome import SUCCEEDED, CycleOutcome, OnCall, OnLog, SandboxUnavailable, json_default
from runtime.pool import DEFAULT_PRELOAD, Sandbox, _platform
from runtime.protocol import Run
from runtime.sandbox import shared_sandbox, wants_preload
from runtime.session import EXIT_GRACE, RunSession
from runtime.zygote_client import ZygoteProcess

logger = logging.getLogger("runtime")
START_TIMEOUT = 10.0  # a session's ready (the zygote forks it on demand, it compiles the files)
SESSION_CPU_SECONDS = 3600  # the session process's own CPU (forks and reaps), far beyond its recycling


class SessionGone(Exception):
    """The session could not take a cycle; no user code of that cycle ran."""


class WarmSession:
    """One strategy version's sandboxed session. One cycle at a time."""

    def __init__(self, files: Mapping[str, str], limits: SandboxLimits, sandbox: Sandbox, *, neighbours: int = 0
                 ) -> None:
        """`neighbours`: how many other sessions the sandbox may hold. Every process of a sandbox runs as
        one user, and RLIMIT_NPROC counts them all: the session's allowance grows by that many, so a
        cycle may start as many threads as a cold run may."""
        self.files = dict(files)
        self.limits = limits
        self.sandbox = sandbox
        self.platform = _platform(files, {})
        self.started = time.monotonic()
        self.used_at = self.started  # when its last cycle ended: the LRU evicts only a session idle long enough
        self.cycles = 0
        self.rss_kb = 0
        self.dead = False
        self.busy = False
        self.closed = False
        self.pipes: dict[str, int] = {}
        self.cpu_used = 0.0  # seconds of the sandbox's CPU for this session's cycles (diagnostics, benchmarks)
        self.session_cpu = 0.0
        self.zygote: ZygoteProcess = sandbox._acquire(limits)
        missing = sandbox._missing_layers(self.zygote)
        self.warning = (f"SANDBOX WEAK MODE (development only): running without {', '.join(missing)}"
                        if missing else None)
        self.required = [layer for layer in ("rlimits", "landlock", "seccomp") if layer not in missing]
        self.token = secrets.token_hex(16)
        self.channel, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pipes = {name: os.pipe() for name in ("stdout", "stderr", "status")}
        try:
            self.zygote.spawn(self.token, [child.fileno(), *(write for _, write in pipes.values())], session=True)
        except OSError as broken:
            self.zygote.destroy()
            self._close_fds({name: read for name, (read, _) in pipes.items()})
            sandbox._release(self.zygote)
            raise SandboxUnavailable(f"the sandbox zygote is gone: {broken}") from broken
        finally:
            child.close()
            for _, write in pipes.values():
                os.close(write)
        self.pipes = {name: read for name, (read, _) in pipes.items()}  # the session's own: diagnostics only
        self.decoder = FrameDecoder(1 << 20)
        try:
            # The session's own rlimits: more processes (its neighbours) and CPU for its whole life (it runs
            # no user code); each cycle's child lowers the CPU limit to the cycle's (`cycle_limits`).
            allowance = replace(limits, threads=int(limits.threads) + 2 * (neighbours + 1),  # session + next child
                                cpu_seconds=max(int(limits.cpu_seconds), SESSION_CPU_SECONDS))
            spec = {"type": "spec", "mode": "session", "limits": allowance.as_dict(),
                    "cycle_limits": limits.as_dict(), "files": self.files, "ctx": {},
                    "required_layers": self.required}
            deadline = time.monotonic() + START_TIMEOUT
            self._send(encode_frame(spec, default=json_default), deadline)
            ready = self._receive(deadline)[0]
            if ready.get("type") == "refused":
                raise SandboxUnavailable(f"the sandbox refused to run the strategy: {ready.get('error')}")
            if ready.get("type") != "ready":
                raise SessionGone(f"the session did not start: {str(ready.get('type'))[:40]}")
        except BaseException:
            self.close()
            raise

    # -- plumbing --

    def _send(self, frame: bytes, deadline: float) -> None:
        self.channel.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            self.channel.sendall(frame)
        except OSError as error:
            raise SessionGone(f"the session did not take the cycle: {error}") from None

    def _receive(self, deadline: float) -> tuple[dict[str, Any], list[int]]:
        """One frame from the session, with the descriptors that came with it."""
        fds: list[int] = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not wait_ready(self.channel, remaining):
                    raise SessionGone("the session did not answer in time")
                data, received, _, _ = socket.recv_fds(self.channel, 1 << 16, 4)
                fds += received
                if not data:
                    raise SessionGone("the session is gone")
                frames = self.decoder.feed(data)
                if frames:
                    if len(frames) > 1 or self.decoder.pending:
                        raise SessionGone("the session sent more than one frame")
                    return frames[0], fds
        except (SessionGone, ProtocolError, OSError) as error:
            self._close_fds(dict(enumerate(fds)))
            raise SessionGone(str(error)) from None

    @staticmethod
    def _close_fds(fds: Mapping[Any, int]) -> None:
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- RunSession's RunKiller: a cycle that must be stopped takes its session with it --

    def kill(self, token: str) -> None:
        self.dead = True
        self.zygote.kill(self.token)

    def destroy(self) -> None:
        self.dead = True
        self.zygote.destroy()

    # -- the public door --

    def cycle(self, ctx: Mapping[str, Any], on_call: OnCall, on_log: OnLog | None = None) -> CycleOutcome:
        """One cycle in a fresh child of this session. Raises SessionGone if the cycle could not start."""
        started = time.monotonic()
        deadline = started + float(self.limits.wall_seconds)
        run = Run(self.limits, on_call, _platform(self.files, ctx),
                  {str(p["position_id"]) for p in ctx.get("positions") or []}, on_log)
        run.required = self.required
        if self.warning:
            logger.warning("%s; strategy %s", self.warning, ctx.get("strategy_id"))
            run.log("warning", self.warning)
        frame = encode_frame({"type": "cycle", "ctx": dict(ctx)}, default=json_default)  # bad input fails here
        if self.dead:
            raise SessionGone("the session was retired")
        self._send(frame, deadline)
        reply, fds = self._receive(deadline)
        if reply.get("type") != "cycle" or len(fds) != 4:
            self._close_fds(dict(enumerate(fds)))
            raise SessionGone("the session answered a cycle without its descriptors")
        self.rss_kb = int(reply.get("rss_kb") or 0)
        channel = socket.socket(fileno=fds[0])
        session = _CycleSession(run, self, self.token, channel,
                                {"stdout": fds[1], "stderr": fds[2], "status": fds[3]}, deadline, self.limits)
        try:
            session.loop()
        except BaseException:  # e.g. the task's soft time limit: the child must not outlive its cycle
            self.dead = True
            raise
        finally:
            session.close()
        status, error, trace, state = session.verdict(ctx)
        run.deliver()
        self.cycles += 1
        # CPU of this cycle in the sandbox, as the session measured it (its child's, and its own since the last)
        own = session.session_cpu if session.session_cpu is not None else self.session_cpu
        self.cpu_used += (session.cpu if session.exited else 0.0) + max(0.0, own - self.session_cpu)
        self.session_cpu = own
        if status != SUCCEEDED or (session.exited and session.exit_code != 0):
            self.dead = True  # any sign of trouble: the next cycle gets a new session
        return CycleOutcome(
            status=status,
            entries=(run.result or {}).get("entries", []),
            exits=(run.result or {}).get("exits", []),
            logs=run.logs,
            error=error,
            traceback=trace,
            state=state,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            calls=run.calls,
            layers=dict(run.ready or {}, namespaces=self.zygote.namespaces),
            weak=self.warning is not None,
            run_pid=session.pid,
        )

    def close(self) -> None:
        """End the session: it exits on end of file; the zygote kills it in any case and reaps it."""
        if self.closed:
            return
        self.closed = self.dead = True
        with contextlib.suppress(OSError):
            self.channel.close()
        self.zygote.kill(self.token)
        self._close_fds(self.pipes)
        self.sandbox._release(self.zygote)

    def forget(self) -> None:
        """In a forked worker: drop this process's copies of the descriptors; the parent keeps its session."""
        with contextlib.suppress(OSError):
            self.channel.close()
        self._close_fds(self.pipes)


class _CycleSession(RunSession):
    session_cpu: float | None = None  # the session process's own CPU so far, as it reported it
    """A warm cycle's select loop: as a cold run's, but a child that sent its result and closed its streams
    is left to exit (its session reaps it and empties the scratch folder before it reads the next cycle)
    for EXIT_GRACE. Any other end kills the session, and with it the child."""

    def _status_message(self, message: dict[str, Any]) -> None:
        super()._status_message(message)
        if isinstance(message.get("session_cpu"), int | float):
            self.session_cpu = float(message["session_cpu"])

    def ended(self) -> None:
        if self.exited or self.destroy_at is not None:
            return
        if self.run.result is not None and self.open <= {"status"}:
            # Its result in and its streams closed: the child is exiting and its session reaps it. Wait
            # for that (no CPU, a millisecond of teardown): a child that lingers (a forged result, then a
            # loop) must not outlive its cycle, so past the grace it is killed with its session.
            deadline = time.monotonic() + EXIT_GRACE
            status = self.pipes["status"]
            while not self.exited and (remaining := deadline - time.monotonic()) > 0:
                if not wait_ready(status, remaining):
                    break
                try:
                    data = os.read(status, 4096)
                except OSError:
                    break
                if not data:
                    break
                self._status(data)
            if self.exited:
                return
        self.zygote.kill(self.token)


Key = tuple[Hashable, ...]


class WarmSessions:
    """A worker process's warm sessions, least recently used first. Thread-safe; fork-aware."""

    def __init__(self, *, size: int = 64, memory_mb: int = 4096, recycle_cycles: int = 1000,
                 recycle_seconds: float = 900.0, per_sandbox: int = 16, evict_idle_seconds: float = 60.0,
                 start_gap_seconds: float = 0.0, start_in_background: bool = False,
                 first_start_after_seconds: float = 0.0) -> None:
        self.size = size
        self.start_in_background = start_in_background
        self._starting: set[Key] = set()  # sessions starting on a thread of their own (start_in_background)
        self._threads: list[threading.Thread] = []  # their threads, joined by close()
        self.start_gap_seconds = start_gap_seconds
        # monotonic: no session starts before. A worker process's first cycles run cold while it settles.
        self._next_start = time.monotonic() + first_start_after_seconds
        self.evict_idle_seconds = evict_idle_seconds
        self.per_sandbox = per_sandbox
        # Sessions live in sandboxes of their own, at most `per_sandbox` in each: cold runs never share
        # a sandbox's process count (RLIMIT_NPROC) with idle sessions. Keyed by "preloads numpy+pandas".
        self.sandboxes: dict[bool, list[Sandbox]] = {True: [], False: []}
        self.hosted: dict[int, int] = {}  # id(sandbox) -> sessions it holds
        self.memory_mb = memory_mb
        self.recycle_cycles = recycle_cycles
        self.recycle_seconds = recycle_seconds
        self.sessions: OrderedDict[Key, WarmSession] = OrderedDict()
        self.started = 0  # sessions started, for tests and benchmarks
        self.full = 0  # cycles run cold because the LRU was full of sessions in use, for tests and benchmarks
        self.spaced = 0  # cycles run cold because a session had started less than start_gap_seconds before
        self.deferred = 0  # cycles run cold while their session started beside them (start_in_background)
        self._generation = 0  # close() moves it on: a session that started before is not filed after
        self.cpu_seconds = 0.0  # the sandbox's CPU for warm cycles, as the sessions measured it (µs, not ticks)
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()

    def run_cycle(self, owner: Key, files: Mapping[str, str], ctx: Mapping[str, Any], on_call: OnCall,
                  limits: SandboxLimits | None = None, on_log: OnLog | None = None,
                  sandbox: Sandbox | None = None) -> CycleOutcome:
        """One cycle of `files` in the session of (`owner`, these files, platform, limits); cold if none can."""
        limits = limits or SandboxLimits()
        preload = wants_preload(files)
        key: Key = (*owner, strategy_hash(files), _platform(files, ctx), limits, preload, id(sandbox))
        for _ in range(2):  # a session that died between cycles is replaced once
            session = self._checkout(key, files, limits, preload, sandbox)
            if session is None:
                break
            try:
                used = session.cpu_used
                outcome = session.cycle(ctx, on_call, on_log)
                self.cpu_seconds += session.cpu_used - used
                return outcome
            except SessionGone as gone:
                logger.info("warm session of %s gone before its cycle: %s", ctx.get("strategy_id"), gone)
                session.dead = True
            finally:
                self._checkin(key, session)
        cold = sandbox or shared_sandbox(preload=preload)
        return cold.run_cycle(files, ctx, on_call, limits, on_log)

    def _checkout(self, key: Key, files: Mapping[str, str], limits: SandboxLimits, preload: bool,
                  sandbox: Sandbox | None) -> WarmSession | None:
        retired: list[WarmSession] = []
        with self._lock:
            self._forked()
            session = self.sessions.get(key)
            if session is not None and session.busy:
                return None  # one cycle at a time: a second thread runs its cycle cold
            if session is not None and (session.dead or self._worn(session)):
                retired.append(self.sessions.pop(key))
                session = None
            if session is not None:
                self.sessions.move_to_end(key)
                session.busy = True
        self._close(retired)
        if session is not None:
            return session
        with self._lock:
            if key in self._starting:
                self.deferred += 1
                return None
            if not self._room():
                self.full += 1
                return None
            now = time.monotonic()
            if now < self._next_start or (self.start_in_background and self._starting):
                self.spaced += 1
                return None
            self._next_start = now + self.start_gap_seconds
            box = sandbox or self._sandbox_with_room(preload)
            self.hosted[id(box)] = self.hosted.get(id(box), 0) + 1
            neighbours = self.per_sandbox if sandbox is None else self.size
            generation = self._generation
            if self.start_in_background:
                self._starting.add(key)
                self.deferred += 1
                thread = threading.Thread(target=self._start_beside, name="warm-session-start", daemon=True,
                                          args=(key, files, limits, box, neighbours, generation))
                self._threads = [*(t for t in self._threads if t.is_alive()), thread]
                thread.start()  # under the lock: close() joins only threads that have started
                return None
        return self._start(key, files, limits, box, neighbours, generation, busy=True)

    def _start(self, key: Key, files: Mapping[str, str], limits: SandboxLimits, box: Sandbox, neighbours: int,
               generation: int, *, busy: bool) -> WarmSession | None:
        """Start the session of `key` in `box` (its place there already counted) and file it: checked out
        (`busy`) for the cycle that started it, or idle for the next cycle. None if it could not start."""
        try:
            session = WarmSession(files, limits, box, neighbours=neighbours)
        except BaseException as error:
            with self._lock:
                self.hosted[id(box)] = self.hosted.get(id(box), 1) - 1
            if isinstance(error, SessionGone):
                logger.warning("warm session could not start: %s", error)
                return None
            raise
        with self._lock:
            filed = generation == self._generation and self._owner_pid == os.getpid()
            if not filed:
                retired = [session]  # closed (or forked) while it started: nobody will ask for it
            else:
                self.started += 1
                session.busy = busy
                session.used_at = time.monotonic()
                displaced = self.sessions.pop(key, None)
                self.sessions[key] = session
                retired = [displaced] if displaced is not None else []
                retired += self._over_cap()
        self._close(retired)
        return session if filed else None

    def _start_beside(self, key: Key, files: Mapping[str, str], limits: SandboxLimits, box: Sandbox,
                      neighbours: int, generation: int) -> None:
        """A session started on a thread of its own while the cycle that asked for it runs cold."""
        try:
            self._start(key, files, limits, box, neighbours, generation, busy=False)
        except Exception:  # e.g. SandboxUnavailable: the next cycle runs cold and may try again
            logger.exception("warm session could not start")
        finally:
            with self._lock:
                if generation == self._generation:
                    self._starting.discard(key)

    def _sandbox_with_room(self, preload: bool) -> Sandbox:
        """A session sandbox of this kind holding fewer than `per_sandbox` sessions (called holding the lock)."""
        for box in self.sandboxes[preload]:
            if self.hosted.get(id(box), 0) < self.per_sandbox:
                return box
        box = Sandbox(preload=DEFAULT_PRELOAD if preload else ())
        self.sandboxes[preload].append(box)
        return box

    def _close(self, sessions: list[WarmSession]) -> None:
        """Close retired sessions; a session sandbox left empty is closed too, but for one of each kind."""
        for session in sessions:
            session.close()
        if not sessions:
            return
        with self._lock:
            for session in sessions:
                self.hosted[id(session.sandbox)] = self.hosted.get(id(session.sandbox), 1) - 1
            empty = []
            for boxes in self.sandboxes.values():
                idle = [box for box in boxes if self.hosted.get(id(box), 0) <= 0]
                for box in idle[1:]:
                    boxes.remove(box)
                    self.hosted.pop(id(box), None)
                    empty.append(box)
        for box in empty:
            box.close()

    def _checkin(self, key: Key, session: WarmSession) -> None:
        retired: list[WarmSession] = []
        with self._lock:
            session.busy = False
            session.used_at = time.monotonic()
            if self.sessions.get(key) is not session:
                retired.append(session)
            elif session.dead or self._worn(session):
                retired.append(self.sessions.pop(key))
            retired += self._over_cap()
        self._close(retired)

    def _worn(self, session: WarmSession) -> bool:
        return (session.cycles >= self.recycle_cycles
                or time.monotonic() - session.started >= self.recycle_seconds)

    def _room(self) -> bool:
        """Whether a new session may start (called holding the lock): the LRU is under its caps, or its least
        recently used idle session has been idle `evict_idle_seconds` (it is evicted once the new one is in)."""
        if len(self.sessions) < self.size and sum(s.rss_kb for s in self.sessions.values()) < self.memory_mb * 1024:
            return True
        now = time.monotonic()
        return any(not s.busy and now - s.used_at >= self.evict_idle_seconds for s in self.sessions.values())

    def _over_cap(self) -> list[WarmSession]:
        """Least recently used idle sessions past the count or memory cap (called holding the lock)."""
        evicted: list[WarmSession] = []
        idle = [key for key, session in self.sessions.items() if not session.busy]
        while idle and (len(self.sessions) > self.size
                        or sum(s.rss_kb for s in self.sessions.values()) > self.memory_mb * 1024):
            evicted.append(self.sessions.pop(idle.pop(0)))
        return evicted

    def _forked(self) -> None:
        if os.getpid() != self._owner_pid:  # a forked worker: the parent's sessions are not ours
            for session in self.sessions.values():
                session.forget()
            self.sessions.clear()
            self.sandboxes = {True: [], False: []}  # each Sandbox notices the fork itself; they are dropped here
            self.hosted.clear()
            self._starting.clear()  # their threads did not survive the fork
            self._threads = []
            self._owner_pid = os.getpid()

    def close(self) -> None:
        with self._lock:
            self._forked()
            self._generation += 1  # a session still starting is closed as it comes in
            self._starting.clear()
            starting, self._threads = self._threads, []
            sessions = list(self.sessions.values())
            self.sessions.clear()
            boxes = [box for kind in self.sandboxes.values() for box in kind]
            self.sandboxes = {True: [], False: []}
            self.hosted.clear()
        for thread in starting:  # no session process outlives close(): each closes the one it started
            thread.join(START_TIMEOUT + 1)
        for session in sessions:
            session.close()
        for box in boxes:
            box.close()


_shared: WarmSessions | None = None
_shared_lock = threading.Lock()


def shared_sessions(**settings: Any) -> WarmSessions:
    """This worker process's warm sessions, made with `settings` (size, memory_mb, recycle_cycles,
    recycle_seconds) on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = WarmSessions(**settings)
        return _shared
