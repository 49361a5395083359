"""The claim's "previous cycle still running" check read every run in flight (the `execution_active` index by
status) or the strategy's whole history, and with autovacuum behind, every run that had been running since the last
vacuum too: about 5,000 index entries a claimed run after a minute at 100 runs a second. This index holds each
strategy's unfinished runs alone, by strategy and status, so the check finds them with both of its conditions.
Built concurrently: the executions table is the largest one, and writes to it (every run's claim and end) go on
while the index is built."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('strategies', '0013_fk_indexes_covered'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='execution',
            index=models.Index(condition=models.Q(('status__in', ['queued', 'running'])), fields=['strategy', 'status'],
                               name='execution_active_strategy'),
        ),
    ]
