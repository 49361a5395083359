"""Every hostile strategy of the shared folder, judged the way its README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strategies.runtime import Sandbox
from strategies.runtime.sandbox import KILL_GRACE, REPO_ROOT
from tests.runtime.conftest import BENIGN, FAST_LIMITS, Canaries, Listener, no_op_on_call, run_is_gone

HOSTILE = Path(__file__).parent / "hostile"
ATTACKS = sorted(path.name for path in HOSTILE.iterdir() if path.is_dir())
# What a contained attack ends as; "succeeded" means the attack ran, failed, and said so in RESULT.
EXPECTED_STATUS = {
    "12_segfault": {"failed"},
    "14_memory_bomb": {"succeeded", "failed"},
    "15_cpu_loop": {"timed_out"},
    "16_sleep_forever": {"timed_out"},
    "17_output_flood": {"failed"},
}


def hostile_files(name: str, marker: Path, listeners: dict[str, Listener]) -> dict[str, str]:
    folder = HOSTILE / name
    files = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
    config = files["config.json"]
    for placeholder, value in {
        "__PROJECT_DIR__": str(REPO_ROOT),
        "__PORT__": str(listeners["tcp"].sock.getsockname()[1]),
        "__MARKER_DIR__": str(marker),
        "__UNIX_SOCKET__": str(listeners["unix"].address),
        "__ABSTRACT__": str(listeners["abstract"].address).lstrip("\0"),
    }.items():
        config = config.replace(placeholder, value)
    files["config.json"] = config
    return files


def test_the_corpus_is_all_here() -> None:
    assert len(ATTACKS) == 16


@pytest.mark.parametrize("attack", ATTACKS)
def test_it_contains_the_hostile_strategy(
    attack: str, sandbox: Sandbox, canaries: Canaries, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    files = hostile_files(attack, marker, listeners)

    outcome = sandbox.run_cycle(
        files, {"strategy_id": attack, "mode": "paper", "state": {}}, no_op_on_call, FAST_LIMITS
    )

    recorded = json.dumps(outcome.as_dict())
    for canary in canaries.values():
        assert canary not in recorded, f"{attack} leaked a canary"
    results = [line.message for line in outcome.logs if line.message.startswith("RESULT ")]
    assert all("PWNED:" not in line for line in results), results
    assert {name: listener.connections for name, listener in listeners.items()} == {"tcp": 0, "unix": 0, "abstract": 0}
    assert list(marker.iterdir()) == []
    assert outcome.duration_ms <= (FAST_LIMITS.wall_seconds + KILL_GRACE + 1) * 1000
    assert outcome.status in EXPECTED_STATUS.get(attack, {"succeeded"}), (outcome.status, outcome.error)
    if outcome.status == "succeeded":
        assert results, "the attack should have reported its RESULT"
        assert outcome.entries == [] and outcome.state == {}
    assert run_is_gone(sandbox, outcome.run_pid), "a process of the run is still alive"

    benign = sandbox.run_cycle(BENIGN, {"strategy_id": "benign"}, no_op_on_call, FAST_LIMITS)
    assert benign.status == "succeeded", benign.error
    assert [line.message for line in benign.logs] == ["benign"]
