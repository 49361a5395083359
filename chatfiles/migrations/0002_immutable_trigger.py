from django.db import migrations

from strategyhub.lib.immutable import refuse_updates


class Migration(migrations.Migration):
    dependencies = [("chatfiles", "0001_initial")]

    operations = [refuse_updates("chatfiles_chatfile", "chat files are immutable: store a new file instead")]
