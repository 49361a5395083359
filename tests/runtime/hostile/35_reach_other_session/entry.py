# ATTACK: reach another strategy's run or warm session in the same sandbox: System V shared memory, message queues and semaphores (one IPC namespace per sandbox), other runs' scratch folders, signals to every pid, /proc of other processes; leave a mark there for the next strategy and report what another one left
# EXPECTED SAFE OUTCOME: nothing of another strategy is found (no PWNED: in RESULT) and nothing is left for one; every channel is refused
import ctypes, json, os, signal
libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x5EED
def attack(ctx, p):
    out = {}
    me = str(ctx.strategy_id).encode()[:30]
    shmid = libc.shmget(KEY, 4096, 0o1666)
    out["shmget"] = "ERR %d" % ctypes.get_errno() if shmid < 0 else "ok"
    if shmid >= 0:
        libc.shmat.restype = ctypes.c_void_p
        address = libc.shmat(shmid, None, 0)
        if address and address != ctypes.c_void_p(-1).value:
            cell = (ctypes.c_char * 32).from_address(address)
            if cell.value and cell.value != me:
                out["PWNED: shared memory of another strategy"] = cell.value.decode(errors="replace")
            cell.value = me
    queue = libc.msgget(KEY, 0o1666)
    out["msgget"] = "ERR %d" % ctypes.get_errno() if queue < 0 else "ok"
    if queue >= 0:
        message = ctypes.create_string_buffer(8 + 64)
        if libc.msgrcv(queue, message, 64, 0, 0o4000) > 0:  # IPC_NOWAIT
            out["PWNED: a message from another strategy"] = message.raw[8:40].decode(errors="replace")
        ctypes.memmove(ctypes.addressof(message), ctypes.byref(ctypes.c_long(1)), 8)
        ctypes.memmove(ctypes.addressof(message) + 8, me, len(me))
        libc.msgsnd(queue, message, len(me), 0o4000)
    semaphore = libc.semget(KEY, 1, 0o1666)
    out["semget"] = "ERR %d" % ctypes.get_errno() if semaphore < 0 else "ok"
    try:
        others = [name for name in os.listdir("/tmp/runs") if os.path.join("/tmp/runs", name) != os.getcwd()]
        for name in others:
            try:
                inside = os.listdir(os.path.join("/tmp/runs", name))
                out["PWNED: another run's scratch folder " + name] = inside[:5]
            except OSError:
                pass
    except OSError as error:
        out["runs"] = "ERR " + type(error).__name__
    signalled = []
    for pid in range(1, 300):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            signalled.append(pid)
        except PermissionError:
            pass
        except ProcessLookupError:
            pass
    if signalled:
        out["PWNED: could signal"] = signalled[:10]
    readable = []
    for pid in range(1, 300):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                readable.append(handle.read(60).decode(errors="replace"))
        except OSError:
            pass
    if readable:
        out["PWNED: /proc of other processes"] = readable[:3]
    return out

def should_enter(ctx):
    p = dict(getattr(ctx, "params", {}) or {})
    try:
        out = attack(ctx, p)
    except BaseException as e:  # the attack's own failure is an expected outcome
        out = {"raised": repr(e)[:500]}
    ctx.log("RESULT " + json.dumps(out, default=str)[:60000])
    return []
