"""Three foreign keys lose the index Django gives each one: a composite index already leads with the column (the
execution's (strategy, -scheduled_for), the lines' and actions' unique (execution, seq)), so lookups and cascades
use that one, and every run writes three to five index entries fewer. Only the indexes are dropped: the foreign
key constraints stay as they are (no re-validation of the tables)."""

import django.db.models.deletion
from django.db import migrations, models

# (table, column, the index Django named for it)
COVERED = [
    ("strategies_execution", "strategy_id", "strategies_execution_strategy_id_a49d0450"),
    ("strategies_executionaction", "execution_id", "strategies_executionaction_execution_id_47bef466"),
    ("strategies_executionlog", "execution_id", "strategies_executionlog_execution_id_9a69e5eb"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('strategies', '0012_sweep'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{index}"', f'CREATE INDEX "{index}" ON "{table}" ("{column}")')
                for table, column, index in COVERED
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='execution',
                    name='strategy',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='executions', to='strategies.strategy'),
                ),
                migrations.AlterField(
                    model_name='executionaction',
                    name='execution',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='actions', to='strategies.execution'),
                ),
                migrations.AlterField(
                    model_name='executionlog',
                    name='execution',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='logs', to='strategies.execution'),
                ),
            ],
        ),
    ]
