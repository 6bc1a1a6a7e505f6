"""Draft → active → retired: exactly one active version, activated prices never change, who did
what is recorded, and publishing is idempotent under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.pricing import selectors, services
from apps.pricing.models import ImmutableVersion, PricingVersion, PublishedPricing
from apps.pricing.publishing import ensure_published, publication_to_serve, publish_scheduled, ttl
from apps.pricing.selectors import get_rate_card
from tests.pricing.conftest import store_publication, with_test_card

CARD = {"input_cents_per_1m": 11, "output_cents_per_1m": 22}


@pytest.mark.django_db
def test_draft_copy_edit_activate_retire(django_capture_on_commit_callbacks, test_model):
    active = selectors.get_active_version()
    draft = services.create_draft_from_active(actor="staff:alice")
    assert (draft.status, draft.based_on_id, draft.created_by) == ("draft", active.pk, "staff:alice")
    assert draft.number > active.number and draft.rates == active.rates

    services.update_draft(draft, rates=with_test_card(active.rates, test_model, CARD), actor="staff:alice",
                          notes="add test model")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.activate(draft, actor="staff:bob")
    assert len(callbacks) == 1  # the publish

    draft.refresh_from_db()
    active.refresh_from_db()
    assert (draft.status, draft.activated_by) == ("active", "staff:bob") and draft.activated_at
    assert (active.status, active.retired_at is not None) == ("retired", True)
    assert PricingVersion.objects.filter(status="active").count() == 1
    number, card = get_rate_card("openai", test_model)
    assert (number, card.input_cents_per_1m, card.output_cents_per_1m) == (draft.number, 11, 22)
    latest = selectors.latest_publication()
    assert (latest.version_id, latest.trigger) == (draft.pk, "activation")


@pytest.mark.django_db
def test_activated_versions_are_immutable():
    active = selectors.get_active_version()
    with pytest.raises(services.PricingError, match="only drafts can be edited"):
        services.update_draft(active, rates=active.rates, actor="test")
    with pytest.raises(services.PricingError, match="only a draft can be activated"):
        services.activate(active, actor="test")

    # The model refuses too, whatever code path tries.
    active.rates = with_test_card(active.rates, "sneaky", CARD)
    with pytest.raises(ImmutableVersion, match="rates cannot change"):
        active.save()
    active.refresh_from_db()
    active.engine_max_version = "1.0.0"
    with pytest.raises(ImmutableVersion):
        active.save()
    active.refresh_from_db()
    active.status = "draft"
    with pytest.raises(ImmutableVersion):
        active.save()
    active.refresh_from_db()
    with pytest.raises(ImmutableVersion):
        active.delete()
    active.notes = "notes may change"
    active.save()


@pytest.mark.django_db
def test_retired_versions_stay_retired(django_capture_on_commit_callbacks):
    old = selectors.get_active_version()
    draft = services.create_draft_from_active(actor="test")
    with django_capture_on_commit_callbacks(execute=False):
        services.activate(draft, actor="test")
    old.refresh_from_db()
    old.status = "active"
    with pytest.raises(ImmutableVersion, match="retired"):
        old.save()


@pytest.mark.django_db
def test_stale_draft_cannot_undo_a_newer_activation(django_capture_on_commit_callbacks):
    first = services.create_draft_from_active(actor="test")
    second = services.create_draft_from_active(actor="test")
    with django_capture_on_commit_callbacks(execute=False):
        services.activate(first, actor="test")
        with pytest.raises(services.PricingError, match="was copied from"):
            services.activate(second, actor="test")
    second.refresh_from_db()
    assert second.status == "draft"


def test_publishing_is_idempotent(committed_db):
    first = ensure_published(trigger="manual")
    assert ensure_published(trigger="manual").pk == first.pk
    assert publish_scheduled().pk == first.pk  # fresher than TTL/3: nothing to do
    assert publication_to_serve().pk == first.pk


def test_concurrent_publishers_sign_once(committed_db):
    stale = store_publication(ttl() * 2)  # expired: every request would want to re-sign
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def serve() -> None:
        try:
            barrier.wait()
            results.append(publication_to_serve().etag)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=serve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    new_rows = PublishedPricing.objects.filter(pk__gt=stale.pk)
    assert new_rows.count() == 1
    assert results == [new_rows.get().etag] * 8
    assert new_rows.get().trigger == "on-demand"


def test_beat_task_re_signs_only_after_a_third_of_the_ttl(committed_db):
    from apps.pricing.tasks import publish_pricing

    young = store_publication(ttl() / 3 - timedelta(seconds=5))
    publish_pricing()
    assert selectors.latest_publication().pk == young.pk
    old = store_publication(ttl() / 3 + timedelta(seconds=1))
    publish_pricing()
    latest = selectors.latest_publication()
    assert latest.pk > old.pk and latest.trigger == "schedule"
    assert latest.expires_at - timezone.now() > ttl() * 0.9


def test_expired_publications_are_pruned_after_a_day(committed_db):
    ancient = store_publication(timedelta(days=2))
    ensure_published(trigger="manual")
    assert not PublishedPricing.objects.filter(pk=ancient.pk).exists()


@pytest.mark.django_db
def test_no_active_version_is_a_clear_503(client):
    PricingVersion.objects.filter(status="active").update(status="retired")  # rolled back after the test
    response = client.get("/v1/public/pricing", HTTP_HOST="localhost")
    assert response.status_code == 503
    assert response.json()["detail"] == "No active pricing version"
