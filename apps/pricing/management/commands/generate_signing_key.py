"""Print a new Ed25519 signing key for the price list. Nothing is stored: put the private key in
the environment (CAP_PRICING_SIGNING_PRIVATE_KEY) and give the public key to sidecar operators."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.pricing.signing import generate_private_key_b64, key_for


class Command(BaseCommand):
    help = "Generate a pricing signing key; prints the private key (base64 raw) and its public key."

    def handle(self, *args, **options) -> None:
        private_b64 = generate_private_key_b64()
        key = key_for(private_b64)
        self.stdout.write(f"CAP_PRICING_SIGNING_PRIVATE_KEY={private_b64}")
        self.stdout.write(f"public_key={key.public_b64}")
        self.stdout.write(f"key_id={key.key_id}")
