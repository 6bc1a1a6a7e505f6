"""The one pooled HTTP client per process and event loop, and what we send upstream.

The client's SpendGuard key never leaves: authorization-like and hop-by-hop headers are dropped
and the provider key from settings is added. Every call has a total deadline
(UPSTREAM_TIMEOUT_SECONDS) shorter than the reservation TTL, so no call outlives its money.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

# Never forwarded: credentials (ours), hop-by-hop headers, and what the client cannot decide for us.
DROP_REQUEST_HEADERS = {
    "authorization", "x-api-key", "x-goog-api-key", "proxy-authorization", "cookie", "host", "content-length",
    "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
    "accept-encoding", "expect", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
    "x-real-ip", "openai-organization", "openai-project", "content-type",
}
PASS_RESPONSE_HEADERS = ("content-type", "retry-after", "retry-after-ms", "x-request-id", "request-id",
                         "openai-processing-ms")
PASS_RESPONSE_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    existing = _clients.get(loop)
    if existing is not None and not existing.is_closed:
        return existing
    total = settings.UPSTREAM_TIMEOUT_SECONDS
    created = httpx.AsyncClient(
        timeout=httpx.Timeout(total, connect=min(10.0, total)),
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30),
        follow_redirects=False,
        trust_env=False,  # no proxy or netrc from the environment in front of a billing path
    )
    _clients[loop] = created
    return created


def forward_headers(client_headers: Any, auth: dict[str, str]) -> dict[str, str]:
    headers = {k.lower(): v for k, v in client_headers.items()
               if k.lower() not in DROP_REQUEST_HEADERS and not k.lower().startswith("x-cynsta-")}
    headers.update(auth)
    headers["content-type"] = "application/json"
    return headers


@dataclass
class Exchange:
    """The result of one upstream call. `sent` is False only when the provider cannot have seen
    the whole request (so it cannot have billed)."""

    status: int | None = None
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""  # termination reason when there is no complete response
    sent: bool = True
    latency_ms: int = 0


# The provider cannot have seen the whole request: it cannot have billed.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError,
                   httpx.WriteTimeout, httpx.UnsupportedProtocol, httpx.LocalProtocolError)
# The request went out and the answer broke off: it may have billed.
BROKEN_ANSWER_ERRORS = (httpx.ReadError, httpx.RemoteProtocolError, httpx.NetworkError)


@contextlib.contextmanager
def recording_failures(ex: Exchange) -> Iterator[None]:
    """Turn a transport failure into the exchange's termination reason, the same for every call."""
    try:
        yield
    except NOT_SENT_ERRORS as exc:
        ex.error, ex.sent = "not_sent", False
        ex.content = str(exc).encode()[:300]
    except (httpx.ReadTimeout, TimeoutError):
        ex.error = "timeout"
    except BROKEN_ANSWER_ERRORS as exc:
        ex.error = "connection_error"
        ex.content = str(exc).encode()[:300]


def _passed(headers: httpx.Headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()
            if k.lower() in PASS_RESPONSE_HEADERS or k.lower().startswith(PASS_RESPONSE_PREFIXES)}


async def post(url: str, content: bytes, headers: dict[str, str]) -> Exchange:
    started = time.perf_counter()
    ex = Exchange()
    with recording_failures(ex):
        async with asyncio.timeout(settings.UPSTREAM_TIMEOUT_SECONDS):
            response = await client().post(url, content=content, headers=headers)
        ex.status, ex.content, ex.headers = response.status_code, response.content, _passed(response.headers)
    ex.latency_ms = int((time.perf_counter() - started) * 1000)
    return ex


async def open_stream(url: str, content: bytes, headers: dict[str, str], *,
                      deadline: float) -> tuple[Exchange, httpx.Response | None]:
    """Send a streaming request and wait for the status line and headers only.

    Returns the open response when the provider answered 2xx with an event stream (the caller
    reads and closes it); anything else — an error status, a provider that answered with plain
    JSON — has its body read here, like a non-streamed call, and the connection released. `deadline` is
    a loop time: the whole stream, not just this step, must end before it.
    """
    ex = Exchange()
    response: httpx.Response | None = None
    try:
        with recording_failures(ex):
            async with asyncio.timeout_at(deadline):
                request = client().build_request("POST", url, content=content, headers=headers)
                response = await client().send(request, stream=True)
                ex.status, ex.headers = response.status_code, _passed(response.headers)
                if response.status_code >= 300 or "event-stream" not in response.headers.get("content-type", ""):
                    ex.content = await response.aread()
                    await response.aclose()
                    response = None
    except BaseException:  # cancelled (the client left) or a bug: never leak the connection
        if response is not None:
            await asyncio.shield(response.aclose())
        raise
    if ex.error and response is not None:
        await response.aclose()
        response = None
    return ex, response
