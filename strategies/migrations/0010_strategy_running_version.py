"""Strategy.running_version: the approved version its cycles run, apart from the newest (current) version, so a
new version waits for approval while the approved one keeps running. Filled for every strategy that ran."""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def running_versions_fill(apps: Any, schema_editor: Any) -> None:
    """Until now a strategy ran its current version once that was approved (for live too, in live mode)."""
    Strategy = apps.get_model("strategies", "Strategy")
    Strategy.objects.filter(status="approved", current_version__approved_paper_at__isnull=False).update(
        running_version=models.F("current_version"))


class Migration(migrations.Migration):

    dependencies = [
        ('strategies', '0009_strategy_last_cycle_ms'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='strategy',
            name='strategy_due_idx',
        ),
        migrations.AddField(
            model_name='strategy',
            name='running_version',
            field=models.ForeignKey(blank=True, help_text='The approved version its cycles run: it keeps running while a newer version waits for approval, and approving that one (for live, in live mode) switches to it.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='strategies.strategyversion'),
        ),
        migrations.RunPython(running_versions_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='strategy',
            name='current_version',
            field=models.ForeignKey(blank=True, help_text='The newest version: what a Test Run runs and a reviewer decides.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='strategies.strategyversion'),
        ),
        migrations.AddIndex(
            model_name='strategy',
            index=models.Index(condition=models.Q(('enabled', True), ('mode__in', ['paper', 'live']), ('next_run_at__isnull', False), ('running_version__isnull', False)), fields=['next_run_at'], name='strategy_due_idx'),
        ),
    ]
