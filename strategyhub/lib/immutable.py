"""Database triggers that refuse UPDATE (and optionally DELETE) of rows that must never change.

The model layer refuses too, but only a trigger also stops a queryset .update(), raw SQL or
another process: immutability has to hold in the database itself.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def _trigger_sql(table: str, columns: list[str] | None, message: str) -> tuple[list[str], list[str]]:
    name = f"{table}_immutable"
    message = message.replace("'", "''")  # an SQL string literal
    of_columns = f" OF {', '.join(columns)}" if columns else ""
    forward = [
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{message}'; END; $$ LANGUAGE plpgsql;",
        f"CREATE TRIGGER {name} BEFORE UPDATE{of_columns} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();",
    ]
    backward = [f"DROP TRIGGER IF EXISTS {name} ON {table};", f"DROP FUNCTION IF EXISTS {name}();"]
    return forward, backward


def refuse_updates(table: str, message: str, columns: list[str] | None = None) -> migrations.RunPython:
    """A migration operation installing an UPDATE-refusing trigger on `table` (only `columns` if given)."""

    def forward(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for statement in _trigger_sql(table, columns, message)[0]:
            schema_editor.execute(statement)

    def backward(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for statement in _trigger_sql(table, columns, message)[1]:
            schema_editor.execute(statement)

    return migrations.RunPython(forward, backward)
