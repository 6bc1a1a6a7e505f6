"""First-run setup for the quick start: a staff login and a first API key, printed once.

Idempotent: an existing staff user is kept (its password is not shown again).
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.accounts.services import get_or_create_organization, issue_api_key


class Command(BaseCommand):
    help = "Create a staff superuser and a first API key for the quick start."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--org", default="default")
        parser.add_argument("--base-url", default="http://127.0.0.1:8787")

    def handle(self, *args, username: str, org: str, base_url: str, **options) -> None:
        User = get_user_model()
        password = None
        if not User.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
        issued = issue_api_key(get_or_create_organization(org), name="quick start")
        out = self.stdout.write
        out(f"Admin:    {base_url}/admin/")
        if password:
            out(f"Login:    {username} / {password}")
        else:
            out(f"Login:    {username} (existing user; `manage.py changepassword {username}` to reset)")
        out(f"API key:  {issued.plaintext}")
        out(f"Try it:   CAP_MODE=hosted CAP_API_KEY={issued.plaintext} spendguard agent create --name demo")
