"""Refuse oversized bodies before Django reads them (413, not a 400 or a 500)."""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core.errors import error_response


class BodySizeLimitMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _too_big(self, request: HttpRequest) -> bool:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            return int(raw) > settings.MAX_REQUEST_BODY_BYTES
        except ValueError:
            return False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self._acall(request)
        if self._too_big(request):
            return error_response(413, "Request body too large")
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if self._too_big(request):
            return error_response(413, "Request body too large")
        return await self.get_response(request)


class ApiHeadersMiddleware:
    """The parts of Django's security/common middleware an API call needs, async-native so the API
    path crosses no sync thread hop: ALLOWED_HOSTS validation and the security headers."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        request.get_host()  # raises DisallowedHost (→ 400) like CommonMiddleware
        response = await self.get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
