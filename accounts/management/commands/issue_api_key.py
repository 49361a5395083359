"""Print a new API key for a user (the only time the key can be read)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import ApiKeyScope
from accounts.services import api_key_issue


class Command(BaseCommand):
    help = "Issue an API key for USERNAME and print it; nothing else goes to stdout."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", metavar="USERNAME")
        parser.add_argument("--create-user", action="store_true", help="create the user if it does not exist")
        parser.add_argument("--staff", action="store_true", help="make the user staff (admin access)")
        parser.add_argument("--scope", choices=ApiKeyScope.values, default=ApiKeyScope.AGENT,
                            help="agent: read and write the user's strategies (never approve); read: read only")
        parser.add_argument("--label", default="issue_api_key", help="what the key is for, shown when keys are listed")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username = options["username"].strip()
        if not username:
            raise CommandError("USERNAME must not be empty", returncode=2)
        user = User.objects.filter(username=username).first()
        if user is None:
            if not options["create_user"]:
                raise CommandError(f"no user named {username!r} (add --create-user to create it)", returncode=2)
            user = User.objects.create_user(username=username)
            user.set_unusable_password()
        if options["staff"] and not user.is_staff:
            user.is_staff = True
        user.save()
        self.stdout.write(api_key_issue(user=user, label=options["label"], scope=options["scope"]))
