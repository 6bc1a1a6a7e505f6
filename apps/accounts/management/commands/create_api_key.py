"""Create an API key (and the organization if needed); the plaintext is printed once."""

from __future__ import annotations

import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import get_or_create_organization, issue_api_key, parse_scopes


class Command(BaseCommand):
    help = "Create an API key for an organization, creating the organization if needed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="Organization name")
        parser.add_argument("--scopes", default="cap:use,cap:manage", help="Comma-separated scopes")
        parser.add_argument("--name", default="", help="A label for the key")
        parser.add_argument("--test", action="store_true", help="Issue an sk_cynsta_test_ key")
        parser.add_argument("--json", action="store_true", help="Print JSON")

    def handle(self, *args, org: str, scopes: str, name: str, test: bool, json: bool, **options) -> None:
        try:
            scope_list = parse_scopes(scopes)
            organization = get_or_create_organization(org)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        issued = issue_api_key(organization, scopes=scope_list, test=test, name=name)
        if json:
            self.stdout.write(_json({
                "key": issued.plaintext,
                "key_id": issued.api_key.pk,
                "organization": organization.name,
                "scopes": scope_list,
            }))
        else:
            self.stdout.write(f"API key for {organization.name} ({', '.join(scope_list)}), shown once:")
            self.stdout.write(issued.plaintext)


def _json(data: dict) -> str:
    return jsonlib.dumps(data)
