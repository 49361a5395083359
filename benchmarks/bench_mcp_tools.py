"""What the tools' output schemas cost an MCP server: the time of a tools/list answer and its size.

    python benchmarks/bench_mcp_tools.py [--runs 3]

Each measurement runs in a fresh process after django.setup(), as a server starts: building the tools/list
answer the first time with output schemas (they come from the OpenAPI schema, which imports every view), the
same once `tools_prepare()` ran at start-up (what the server does now), and, for comparison, the answer with
input schemas only (what it was before output schemas). Prints the medians and the answer's size. Needs no
database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, os, sys, time
import django
django.setup()
import mcp_types as types
from api import mcp_server
case = sys.argv[1]
if case == "prepared":
    mcp_server.tools_prepare()
started = time.perf_counter()
if case == "input_only":  # as _tools() built it before output schemas
    from api.tools import TOOLS
    tools = [types.Tool(name=t.name, title=t.title, description=t.description, input_schema=t.input_schema(),
                        annotations=types.ToolAnnotations(title=t.title, read_only_hint=t.read_only,
                                                          destructive_hint=t.destructive,
                                                          idempotent_hint=t.idempotent, open_world_hint=False))
             for t in TOOLS]
else:
    tools = mcp_server._tools()
elapsed = time.perf_counter() - started
size = len(json.dumps(types.ListToolsResult(tools=tools).model_dump(mode="json", by_alias=True, exclude_none=True)))
print(json.dumps({"seconds": elapsed, "bytes": size}))
"""

CASES = {
    "input_only": "input schemas only (before)",
    "cold": "with output schemas, first call, no warm-up",
    "prepared": "with output schemas, after tools_prepare() at start-up",
}


def measure(case: str) -> dict[str, float]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "strategyhub.settings")}
    done = subprocess.run([sys.executable, "-c", PROBE, case], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=300)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    print(f"tools/list answer built in a fresh process, median of {runs} runs")
    print(f"{'case':<58} {'ms':>9} {'bytes':>8}")
    for case, label in CASES.items():
        results = [measure(case) for _ in range(runs)]
        ms = statistics.median(r["seconds"] for r in results) * 1000
        print(f"{label:<58} {ms:>9.1f} {int(results[0]['bytes']):>8}")


if __name__ == "__main__":
    main()
