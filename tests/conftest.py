"""Shared fixtures. Tests that talk to a real server use `committed_db`: data is committed (the
server is another process) and every test works in an organization of its own, so nothing is
flushed between tests. Do not use pytest-django's `transactional_db` here: its flush would also
wipe the seeded pricing version."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from tests.support.server import ServerProcess

# CI must be reproducible: a property test explores new examples on every run locally, but in CI
# (CI=true) it replays the same derandomized sequence, so a landing cannot hinge on a lucky draw.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """pytest-django only creates the test database for tests that carry its `django_db` mark;
    ours mostly use `committed_db`, so always create it (migrations included: they seed pricing)."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=request.config.option.verbose, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        _disconnect_others()
        teardown_databases(db_cfg, verbosity=request.config.option.verbose)


def _disconnect_others() -> None:
    """Servers and workers the tests started (some SIGKILLed on purpose) may leave sessions behind;
    PostgreSQL will not drop a database that still has them."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[ServerProcess]:
    """One real server for the session, on the test database."""
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with django_db_blocker.unblock(), ServerProcess(workers=2, log_path=log) as proc:
        yield proc


@dataclass
class Tenant:
    org: object
    key: str
    api_key: object

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}


def make_tenant(scopes: list[str] | None = None, *, name: str | None = None) -> Tenant:
    from apps.accounts.services import get_or_create_organization, issue_api_key

    org = get_or_create_organization(name or f"org-{uuid.uuid4().hex[:12]}")
    issued = issue_api_key(org, scopes=scopes)
    return Tenant(org=org, key=issued.plaintext, api_key=issued.api_key)


@pytest.fixture
def tenant(committed_db) -> Tenant:
    return make_tenant()


@pytest.fixture
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
