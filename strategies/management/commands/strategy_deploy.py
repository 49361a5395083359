"""Deploy the strategy in a folder (either layout), as an operator or a test would."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from strategies.services import ApprovalError, strategy_deploy
from strategies.validation import StrategyInvalid

IGNORED = {"__pycache__", ".DS_Store"}


class Command(BaseCommand):
    help = "Deploy a strategy from DIR (entry.py + exit.py + config.json, or strategy.py + config.json)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("directory", metavar="DIR")
        parser.add_argument("--owner", metavar="USERNAME", help="defaults to the only superuser, if there is one")
        parser.add_argument("--approve", action="store_true",
                            help="approve the new version for paper trading (the owner needs strategies.approve_paper)")
        parser.add_argument("--json", action="store_true", help='print {"id", "version", "status"}')

    def handle(self, *args: Any, **options: Any) -> None:
        files = self._read_folder(Path(options["directory"]))
        owner = self._owner(options["owner"])
        try:
            version = strategy_deploy(owner=owner, files=files, approve_by=owner if options["approve"] else None)
        except StrategyInvalid as exc:
            raise CommandError("\n".join(str(issue) for issue in exc.issues), returncode=2) from None
        except ApprovalError as exc:
            raise CommandError(str(exc), returncode=2) from None
        strategy = version.strategy
        strategy.refresh_from_db()
        if options["json"]:
            self.stdout.write(
                json.dumps({"id": str(strategy.pk), "version": version.number, "status": strategy.status})
            )
        else:
            self.stdout.write(f"{strategy.name!r} (id {strategy.pk}) is at version {version.number}: {strategy.status}")

    def _owner(self, username: str | None) -> User:
        users = get_user_model().objects
        if username:
            try:
                return users.get(username=username)
            except get_user_model().DoesNotExist:
                raise CommandError(f"--owner: no user named {username!r}", returncode=2) from None
        superusers = list(users.filter(is_superuser=True)[:2])
        if len(superusers) != 1:
            raise CommandError(
                "--owner USERNAME is required (there is no single superuser to default to)", returncode=2
            )
        return superusers[0]

    def _read_folder(self, directory: Path) -> dict[str, str]:
        if not directory.is_dir():
            raise CommandError(f"DIR: {directory} is not a folder", returncode=2)
        files: dict[str, str] = {}
        problems: list[str] = []
        for path in sorted(directory.iterdir()):
            if path.name in IGNORED or path.name.startswith("."):
                continue
            if not path.is_file():
                problems.append(f"{path.name}: only files are deployed, this is a folder")
                continue
            try:
                files[path.name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                problems.append(f"{path.name}: must be UTF-8 text")
        if problems:
            raise CommandError("\n".join(problems), returncode=2)
        return files
