"""The operators' management commands, run as a shell would run them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.services import api_key_user
from strategies.models import Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.conftest import EXAMPLES, scripts_files

pytestmark = pytest.mark.django_db


def deploy(*args: str) -> str:
    out = StringIO()
    call_command("strategy_deploy", *args, stdout=out)
    return out.getvalue()


def test_strategy_deploy_prints_id_version_and_status_as_json(alice) -> None:
    printed = json.loads(deploy(str(EXAMPLES / "polymarket_copy_trader"), "--owner", "alice", "--json"))
    strategy = Strategy.objects.get()
    assert printed == {"id": str(strategy.pk), "version": 1, "status": "pending_approval"}


def test_strategy_deploy_approve_approves_for_paper(make_user) -> None:
    alice = make_user("alice", perms=("strategies.approve_paper",))
    printed = json.loads(deploy(str(EXAMPLES / "alpaca_mean_reversion"), "--owner", "alice", "--approve", "--json"))
    assert printed["status"] == "approved"
    assert StrategyVersion.objects.get().approved_paper_by == alice


def test_strategy_deploy_approve_needs_the_paper_approval_permission(alice) -> None:
    with pytest.raises(CommandError, match="needs the permission strategies.approve_paper") as raised:
        deploy(str(EXAMPLES / "alpaca_mean_reversion"), "--owner", "alice", "--approve", "--json")
    assert raised.value.returncode == 2
    assert not Strategy.objects.exists()  # the deploy is rolled back with the refused approval


def test_strategy_deploy_exits_2_with_every_error_on_stderr(alice, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(EXAMPLES / "kalshi_favourite_longshot", folder)
    config = json.loads((folder / "config.json").read_text())
    config["capital"]["max_positions"] = "five"
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "entry.py").write_text("def should_enter(ctx)\n    return []\n")
    with pytest.raises(CommandError) as caught:
        deploy(str(folder), "--owner", "alice", "--json")
    assert caught.value.returncode == 2
    assert str(caught.value).splitlines() == [
        'config.json: capital.max_positions must be an integer ≥ 1, got "five"',
        "entry.py: line 1: invalid Python: expected ':'",
    ]
    assert Strategy.objects.count() == 0


def test_strategy_deploy_run_as_a_process_exits_2_with_the_error_on_stderr(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "strategy_deploy", str(tmp_path / "missing"), "--json"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert f"DIR: {tmp_path / 'missing'} is not a folder" in result.stderr
    assert result.stdout == ""


def test_strategy_deploy_refuses_a_folder_with_a_subfolder(alice, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "kalshi_favourite_longshot", tmp_path / "s")
    (tmp_path / "s" / "lib").mkdir()
    with pytest.raises(CommandError, match="lib: only files are deployed"):
        deploy(str(tmp_path / "s"), "--owner", "alice")


def test_strategy_deploy_defaults_to_the_only_superuser(db) -> None:
    get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    printed = json.loads(deploy(str(EXAMPLES / "kalshi_favourite_longshot"), "--json"))
    assert Strategy.objects.get(pk=printed["id"]).owner.username == "root"


def test_strategy_deploy_without_owner_or_superuser_says_so(db) -> None:
    with pytest.raises(CommandError, match="--owner USERNAME is required"):
        deploy(str(EXAMPLES / "kalshi_favourite_longshot"))


def test_issue_api_key_prints_only_a_working_key(alice) -> None:
    out = StringIO()
    call_command("issue_api_key", "alice", stdout=out)
    key = out.getvalue().strip()
    assert "\n" not in key and key.startswith("shk_")
    assert api_key_user(key) == alice
    assert api_key_user(key + "x") is None
    assert api_key_user("shk_nope_nope") is None


def test_issue_api_key_creates_staff_users_on_request(db) -> None:
    out = StringIO()
    call_command("issue_api_key", "agent-7", "--create-user", "--staff", stdout=out)
    user = get_user_model().objects.get(username="agent-7")
    assert user.is_staff and not user.has_usable_password()
    assert api_key_user(out.getvalue().strip()) == user


def test_issue_api_key_refuses_an_unknown_user_without_create(db) -> None:
    with pytest.raises(CommandError, match="no user named 'ghost'") as caught:
        call_command("issue_api_key", "ghost")
    assert caught.value.returncode == 2
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_seed_demo_brings_an_example_changed_since_the_last_seed_as_its_next_version(make_user) -> None:
    demo = make_user("demo")
    strategy_deploy(owner=demo, files=scripts_files(polling_interval=600))  # the Kalshi example, as it once was
    call_command("seed_demo", stdout=StringIO())
    kalshi = Strategy.objects.get(name="Kalshi Favourite-Longshot")
    assert kalshi.current_version is not None
    assert (kalshi.current_version.number, kalshi.polling_interval) == (2, 300)


def test_seed_demo_is_idempotent_and_leaves_one_approved(db) -> None:
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Log in at http://127.0.0.1:8000/strategies/" in out.getvalue()
    statuses = dict(Strategy.objects.values_list("name", "status"))
    assert statuses == {
        "Polymarket Copy Trader": "approved",
        "Kalshi Favourite-Longshot": "pending_approval",
        "Alpaca ETF Mean Reversion": "pending_approval",
    }
    assert StrategyVersion.objects.count() == 3
    demo = get_user_model().objects.get(username="demo")
    assert demo.is_staff and demo.check_password("demo")
