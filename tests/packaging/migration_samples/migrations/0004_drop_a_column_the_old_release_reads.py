# Not safe for the release before it: that release still reads `kept`. Dropping it is the
# contract step, one release after the code stops reading it.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("migration_samples", "0003_expand_safely")]
    operations = [migrations.RemoveField("sample", "kept")]
