"""Seed the demo: a staff user and the shipped example strategies (idempotent)."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from strategies.models import Strategy
from strategies.services import (
    StrategyNameTaken,
    strategy_deploy,
    strategy_version_approve,
    strategy_version_create,
)

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
# Approved at seed time so the demo runs something; the others wait in the admin's approval queue.
APPROVED_EXAMPLES = {"polymarket_copy_trader"}


class Command(BaseCommand):
    help = "Create the demo user and deploy the example strategies in paper mode."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the dashboard answers")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD", "demo")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=options["username"])
        if created:
            user.set_password(password)
        user.is_staff = user.is_superuser = True  # the demo user also reviews strategies in the admin
        user.save()
        for folder in sorted(path for path in EXAMPLES_DIR.iterdir() if (path / "config.json").exists()):
            files = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
            approve_by = user if folder.name in APPROVED_EXAMPLES else None
            try:
                version = strategy_deploy(owner=user, files=files, approve_by=approve_by)
            except StrategyNameTaken as taken:  # the example changed since the last seed: its next version
                strategy = Strategy.objects.get(pk=taken.strategy_id)
                version, _ = strategy_version_create(strategy=strategy, owner=user, files=files)
                if approve_by is not None:
                    version = strategy_version_approve(version=version, by=approve_by)
            self.stdout.write(f"  {version.strategy.name}: v{version.number}, {version.strategy.status}")
        url = options["url"]
        login = f"{options['username']} / {password}" if created else f"{options['username']} (password unchanged)"
        self.stdout.write(
            self.style.SUCCESS(f"Demo ready. Log in at {url}/strategies/ as {login}; admin at {url}/admin/")
        )
