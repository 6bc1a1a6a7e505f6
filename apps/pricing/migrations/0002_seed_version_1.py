"""Seed pricing version 1 and activate it."""

import copy

from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from apps.pricing.default_rates import SEED_RATES

    PricingVersion = apps.get_model("pricing", "PricingVersion")
    if PricingVersion.objects.exists():
        return
    now = timezone.now()
    PricingVersion.objects.create(
        number=1,
        status="active",
        rates=copy.deepcopy(SEED_RATES),
        notes="Seed: spendguard-engine 0.1.0 default rate cards plus grok-3 family.",
        created_by="system:seed",
        activated_by="system:seed",
        created_at=now,
        activated_at=now,
    )


class Migration(migrations.Migration):
    dependencies = [("pricing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
