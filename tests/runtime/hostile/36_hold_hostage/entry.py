# ATTACK: hold the run (or its warm session) hostage: grow memory without bound, then never answer
# EXPECTED SAFE OUTCOME: the memory limit stops the growth, the wall clock ends the cycle as timed out, and the next cycle (of this strategy or another) runs normally in a fresh process
import json, time
HELD = []
def should_enter(ctx):
    try:
        while True:
            HELD.append(bytearray(8 * 1024 * 1024))
    except MemoryError:
        pass
    while True:
        time.sleep(1)
