"""ASGI entry point. Two Django handlers on one process:

- `/admin/` and `/static/` get the full middleware stack (sessions, CSRF, auth, messages);
- everything else — the key-authenticated JSON API and the proxy — gets `API_MIDDLEWARE`, which is
  async-native. Django runs each sync `MiddlewareMixin` middleware through a thread hop per
  request and response under ASGI; on the proxy path those hops were most of our added latency.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spendguard.settings")
full_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after setup)
from django.core.handlers.asgi import ASGIHandler  # noqa: E402


class ApiASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler reads settings.MIDDLEWARE; swap the lean list in just for this load (startup, one thread).
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


api_application = ApiASGIHandler()
FULL_STACK_PREFIXES = ("/admin", "/" + settings.STATIC_URL.strip("/"))


async def application(scope, receive, send):
    if scope["type"] == "http" and not scope.get("path", "").startswith(FULL_STACK_PREFIXES):
        return await api_application(scope, receive, send)
    return await full_application(scope, receive, send)
