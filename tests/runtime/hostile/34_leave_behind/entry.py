# ATTACK: leave something behind for its own next cycle beyond ctx.state (imported modules' globals, builtins, sys.modules, a file, a thread, a signal handler, an atexit hook, the environment, interpreter settings) and report what an earlier cycle left
# EXPECTED SAFE OUTCOME: every cycle starts as a cold run does: it finds nothing (no PWNED: in RESULT), whether its cycles run cold or in a warm session
import atexit, builtins, decimal, gc, json, os, signal, sys, tempfile, threading, time
import random
LEFT = "left-by-an-earlier-cycle"
MINE = []  # the strategy's own module global: a cold run starts it empty
class PwnedHook:
    def __call__(self):
        pass
def found(ctx):
    seen = []
    if getattr(json, "_pwned", None) == LEFT: seen.append("a global of an imported module")
    if getattr(builtins, "_pwned", None) == LEFT: seen.append("a builtin")
    if "pwned_module" in sys.modules: seen.append("a module in sys.modules")
    if MINE: seen.append("the strategy's own module global")
    for folder in {os.getcwd(), tempfile.gettempdir(), "/tmp"}:
        try:
            if os.path.exists(os.path.join(folder, "pwned.txt")): seen.append("a file in " + folder)
        except OSError:
            pass
    if any(t.name == "pwned-thread" for t in threading.enumerate()): seen.append("a thread")
    if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None): seen.append("a signal handler")
    if os.environ.get("PWNED") == LEFT: seen.append("an environment variable")
    if decimal.getcontext().prec == 77: seen.append("the decimal context")
    if sys.getrecursionlimit() == 4321: seen.append("the recursion limit")
    if getattr(random, "_pwned", None): seen.append("a patched random")
    if any(type(thing).__name__ == "PwnedHook" for thing in gc.get_objects()): seen.append("an atexit hook")
    return seen
def leave(ctx):
    json._pwned = LEFT
    builtins._pwned = LEFT
    sys.modules["pwned_module"] = type(sys)("pwned_module")
    MINE.append(1)
    try:
        with open(os.path.join(os.getcwd(), "pwned.txt"), "w") as handle:
            handle.write(LEFT)
    except OSError:
        pass
    threading.Thread(target=time.sleep, args=(3600,), name="pwned-thread", daemon=True).start()
    signal.signal(signal.SIGUSR1, lambda *_: None)
    os.environ["PWNED"] = LEFT
    decimal.getcontext().prec = 77
    sys.setrecursionlimit(4321)
    random._pwned = True
    atexit.register(PwnedHook())
def attack(ctx, p):
    out = {"cycle": int(ctx.state.get("cycle", 0)) + 1}
    out.update({"PWNED: " + what: True for what in found(ctx)})
    leave(ctx)
    return out

def should_enter(ctx):
    p = dict(getattr(ctx, "params", {}) or {})
    try:
        out = attack(ctx, p)
    except BaseException as e:  # the attack's own failure is an expected outcome
        out = {"raised": repr(e)[:500]}
    ctx.log("RESULT " + json.dumps(out, default=str)[:60000])
    return []
