from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from platform_api.services import issue_key


class Command(BaseCommand):
    help = "Issue a bearer key for the platform and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Which platform system will use the key.")

    def handle(self, *args: Any, **options: Any) -> None:
        key, plain = issue_key(name=options["name"], acting_user=None)
        self.stdout.write(f"Issued platform key {key} — copy it now, it is not shown again:")
        self.stdout.write(plain)
