#!/usr/bin/env python
"""Django's command-line entry point.

With DATABASE_URL unset, a command that needs the database starts the embedded PostgreSQL when it is not
running (`make run` and the test session keep it running) and stops it again when the command ends.
"""

import os
import sys

# Commands that never open a database connection: no embedded server is started for them.
NO_DATABASE = {"venue_simulator", "collectstatic", "help", "version", "--help", "-h", "--version"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strategyhub.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if not settings.EMBEDDED_POSTGRES or command in NO_DATABASE:
        execute_from_command_line(sys.argv)
        return
    from strategyhub.lib import embedded_postgres

    with embedded_postgres.running(embedded_postgres.project_cluster()):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
