from django.core.management.base import BaseCommand

from apps.budgets.reservations import expire_stale


class Command(BaseCommand):
    help = "Settle held reservations past their expiry as lock_expired (what the Celery sweep does)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"settled={expire_stale()}")
