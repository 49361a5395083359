from django.db import migrations

from strategyhub.lib.immutable import refuse_updates


class Migration(migrations.Migration):
    dependencies = [("strategies", "0001_initial")]

    # Approval fields may change; the code and config a version was approved for never do.
    operations = [
        refuse_updates(
            "strategies_strategyversion",
            "a strategy version's code and config are immutable: deploy a new version",
            columns=["strategy_id", "number", "layout", "config", "content_hash"],
        )
    ]
