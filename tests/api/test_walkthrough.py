"""docs/api.md's "An agent's session, end to end", run as a reader runs it: its two shell blocks, word for word,
with bash, curl and jq against the ASGI app under daphne on a free port. Only what the reader fills in is filled
in: the server and the key of the first line, a changed line in strategy.py before step 3 ("Fix"), and step 4's
approval by a person (a reviewer, through the service the admin action calls)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from accounts.services import api_key_issue
from strategies.cycle.run import execution_start
from strategies.models import Execution, Strategy
from strategies.services import strategy_version_approve
from tests.api.test_mcp import daphne  # noqa: F401 - the fixture: the app under daphne on a free port
from tests.conftest import example_files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("venues_on_simulator")]

SECTION = "## An agent's session, end to end"


def walkthrough_blocks() -> list[str]:
    text = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text()
    section = text[text.index(SECTION):]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert '"error": {' not in done.stdout, done.stdout  # an answer in the one error shape
    return done.stdout


def test_the_curl_walkthrough_of_docs_api_md_runs_as_written(alice, staff, daphne, tmp_path: Path) -> None:  # noqa: F811
    assert shutil.which("curl") and shutil.which("jq"), "scripts/install-cli-deps.sh installs curl and jq"
    blocks = walkthrough_blocks()
    assert len(blocks) == 2, "the walkthrough's shell blocks"
    first, watch = blocks
    setup, _, rest = first.partition("\n# 3. Fix")
    fix = "# 3. Fix" + rest
    base = daphne.removesuffix("/mcp")
    key = api_key_issue(user=alice)
    assert "http://127.0.0.1:8000/api/v1" in setup and "KEY=shk_…" in setup
    setup = setup.replace("http://127.0.0.1:8000/api/v1", f"{base}/api/v1").replace("KEY=shk_…", f"KEY={key}")
    files = example_files("polymarket_copy_trader")  # the strategy.py layout the walkthrough sends
    config = json.loads(files["config.json"])
    config["name"] = "Walked through"  # not the demo's name: a clash is refused
    files["config.json"] = json.dumps(config)
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}

    # 0-2: the tools, the deploy (its smoke run), the deployed id.
    out = bash(setup + "\necho \"ID=$ID\"", tmp_path, env)
    assert '"deploy_strategy"' in out and '"run_sweep"' in out
    deployed = json.loads((tmp_path / "deployed.json").read_text())
    assert deployed["smoke"]["status"] == "succeeded", deployed["smoke"]
    assert f"ID={deployed['id']}" in out and "no error" in out
    strategy = Strategy.objects.get(pk=deployed["id"], owner=alice)

    # 3: the reader fixes a line; the fix is version 2, its diff shows the line, a test run runs it.
    script = tmp_path / "strategy.py"
    script.write_text(script.read_text() + "\n# fixed after reading the smoke run\n")
    out = bash(f"ID={strategy.pk}\n" + setup.split("\n# 0.")[0] + "\n" + fix, tmp_path, env)
    assert '"version": 2' in out and "+# fixed after reading the smoke run" in out
    assert strategy.versions.count() == 2
    dry = Execution.objects.filter(strategy=strategy, trigger=Execution.Trigger.DRY_RUN).latest("pk")
    assert dry.version.number == 2 and dry.status == "succeeded"

    # 4: a person approves it.
    strategy.refresh_from_db()
    assert strategy.current_version is not None
    strategy_version_approve(version=strategy.current_version, by=staff)

    # 5: run it now and read the run, the positions, the performance and the graduation checklist.
    out = bash(f"ID={strategy.pk}\n" + setup.split("\n# 0.")[0] + "\n" + watch, tmp_path, env)
    run = Execution.objects.filter(strategy=strategy, trigger=Execution.Trigger.MANUAL).latest("pk")
    assert run.version.number == 2 and f'"status": "{run.status}"' in out  # read back by the id `run/` answered
    assert '"paper"' in out and '"checks"' in out  # the performance's books, the graduation checklist
    execution_start(execution_id=run.pk)  # what a worker does with the queued run
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
