"""The only public (no auth) routes: the signed price list and its public key (SPEC §3, §5)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.http import parse_etags
from ninja import Router

from apps.core.errors import ApiError
from apps.pricing.publishing import NoActiveVersion, publication_to_serve
from apps.pricing.signing import ALGORITHM, signing_key

router = Router(tags=["public"])

# Caches (CDNs, proxies) may keep a document this long at most, so an activation reaches every
# sidecar within a minute; never longer than the document stays valid.
MAX_AGE_CAP_SECONDS = 60


def _weak_match(if_none_match: str, etag: str) -> bool:
    """RFC 7232 §3.2: If-None-Match uses the weak comparison (ignore `W/`); `*` matches anything."""
    tags = parse_etags(if_none_match)
    if "*" in tags:
        return True
    return etag.removeprefix("W/") in {t.removeprefix("W/") for t in tags}


def _cache_control(expires_at: datetime) -> str:
    seconds_left = int((expires_at - timezone.now()).total_seconds())
    return f"public, max-age={max(0, min(seconds_left, MAX_AGE_CAP_SECONDS))}"


@router.get("", auth=None, summary="Signed price list")
def pricing_document(request: HttpRequest) -> HttpResponse:
    try:
        row = publication_to_serve()
    except NoActiveVersion:
        raise ApiError(503, "No active pricing version") from None
    if_none_match = request.headers.get("If-None-Match")
    # Only a conditional request may get a 304: the sidecar treats 304 at start-up as fatal.
    if if_none_match and _weak_match(if_none_match, row.etag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(row.body, content_type="application/json")
    response["ETag"] = row.etag
    response["Cache-Control"] = _cache_control(row.expires_at)
    return response


@router.get("/public-key", auth=None, summary="Ed25519 public key of the price list")
def public_key(request: HttpRequest) -> HttpResponse:
    key = signing_key()
    return JsonResponse({"public_key": key.public_b64, "key_id": key.key_id, "algorithm": ALGORITHM})
