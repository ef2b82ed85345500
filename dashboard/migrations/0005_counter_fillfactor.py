# The counters of the current day and 5-minute slot are updated by every batch: room on their pages
# keeps those updates HOT (no new index entries). docs/scaling.md, "Counter tables".
from django.db import migrations

from common.migration_operations import SetFillfactor


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0004_fiveminutemethodcount")]

    operations = [
        SetFillfactor("dailymethodcount", 90),
        SetFillfactor("fiveminutemethodcount", 50),
    ]
