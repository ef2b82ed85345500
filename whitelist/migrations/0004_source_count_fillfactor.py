# Each address's count for the current day is updated by every batch that names it, like the
# dashboard's counters (dashboard 0005): room on the page keeps those updates HOT.
from django.db import migrations

from common.migration_operations import SetFillfactor


class Migration(migrations.Migration):
    dependencies = [("whitelist", "0003_entry_owner_expiry")]

    operations = [SetFillfactor("dailysourcecount", 90)]
