"""The stream relay: provider SSE in, the same events out as they arrive, one settlement at the end.

`StreamRelay` is the async iterator behind a Django `StreamingHttpResponse`. It reads the open
upstream response chunk by chunk, splits it into SSE events (apps/gateway/sse.py), lets the
adapter's `StreamReader` say what each event means, and forwards every event the client may see
as soon as its chunk has arrived — nothing waits for the end of the answer.

It also enforces the cap mid-stream: it counts output already generated (the provider's own
cumulative counts where it reports them, else one token per non-empty delta — both can only
undercount, so an honest stream is never cut) and stops as soon as that passes what the
reservation covers (output limit × choices): a provider ignoring max_tokens cannot run up a bill
the budget never agreed to.

However the stream ends, `_finish` runs exactly once: it closes the upstream connection and
settles, shielded from cancellation. Django ends an abandoned stream in one of two ways, and
both are covered:
  - the client disconnects while we wait on the provider: the request task is cancelled and
    CancelledError arrives inside the generator → `finally` finishes;
  - the client disconnects while we are sending (or before iteration even started): Django
    abandons the generator without closing it and later calls `response.close()` in a worker
    thread → `close()` finishes (settling synchronously right there, in the request's thread).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from asgiref.sync import sync_to_async

from apps.gateway.adapters.base import Adapter, StreamReader
from apps.gateway.sse import EventTooLarge, SSEParser
from apps.gateway.upstream import Exchange

logger = logging.getLogger(__name__)

STORED_STREAM_BYTES = 1024 * 1024  # what a store_bodies organization keeps of a streamed answer

# Strong references to finishing tasks: a task only weakly referenced by the loop could be
# garbage-collected mid-settlement.
_finishing: set[asyncio.Task] = set()


@dataclass
class StreamFacts:
    """What settlement needs to know about a streamed call beyond the Exchange."""

    usage_final: bool = False  # the usage object is the provider's final account: settle from it
    ttfb_ms: int | None = None  # upstream request sent → first byte forwarded to the client
    note: str | None = None  # None: the flow's default note


Settle = Callable[[str, Any, StreamFacts], Any]  # (termination, usage payload, facts) → Settlement, sync


class StreamRelay:
    def __init__(self, response: httpx.Response, adapter: Adapter, reader: StreamReader, *, ex: Exchange,
                 covered_output: int, deadline: float, started: float, store: bool, settle: Settle) -> None:
        self.response, self.adapter, self.reader, self.ex = response, adapter, reader, ex
        self.covered_output = covered_output
        self.deadline = deadline  # loop time
        self.started = started  # perf_counter when the upstream request was sent
        self.store = store
        self._settle = settle
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._claimed = False
        self.usage_payload: Any = None
        self.usage_final = False
        self.deltas = 0
        self.reported_output = 0
        self.ttfb_ms: int | None = None
        self.sent_bytes = 0
        self.settlement: Any = None

    # --- what Django iterates ---------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        termination, note = "internal_error", ""
        parser = SSEParser()
        chunks = self.response.aiter_bytes()  # decoded: we asked upstream for gzip, the client did not
        try:
            while True:
                chunk = await self._next(chunks)
                events = parser.close() if chunk is None else parser.feed(chunk)
                out, stop, note, terminal = self._absorb(events)
                if terminal and not stop and chunk is not None:
                    # The provider's end: read to EOF (keeps the connection reusable), then settle
                    # BEFORE the client sees the end, so "stream over" always means "settled".
                    out += await self._drain(parser, chunks)
                    chunk = None
                ended = bool(stop) or chunk is None
                if ended:
                    termination, note = (stop, note) if stop else self._normal_end()
                    await self._finish(termination, note)
                if out:
                    yield self._sent(b"".join(out))
                if ended:
                    return
        except (asyncio.CancelledError, GeneratorExit):
            termination, note = "client_disconnected", f"client went away after {self.sent_bytes} bytes"
            raise
        except (TimeoutError, httpx.TimeoutException):
            termination, note = "timeout", "the stream did not finish before the upstream deadline"
        except (httpx.TransportError, httpx.StreamError) as exc:
            termination, note = "connection_error", f"upstream stream broke: {exc or type(exc).__name__}"
        except EventTooLarge as exc:
            termination, note = "internal_error", str(exc)
        except Exception:
            logger.exception("stream relay failed")
            termination, note = "internal_error", "gateway error mid-stream"
        finally:
            await self._finish(termination, note)  # a no-op when already finished

    async def _next(self, chunks: AsyncIterator[bytes]) -> bytes | None:
        """The next upstream chunk, or None at EOF; the deadline bounds the whole stream."""
        if self._loop.time() >= self.deadline:
            raise TimeoutError
        try:
            async with asyncio.timeout_at(self.deadline):
                return await anext(chunks)
        except StopAsyncIteration:
            return None

    def _absorb(self, events: list) -> tuple[list[bytes], str, str, bool]:
        """Read events in order: (bytes to forward, stop reason, note, provider end seen)."""
        out: list[bytes] = []
        terminal = False
        for event in events:
            seen = self.reader.read(event)
            if seen.usage is not None:
                self.usage_payload, self.usage_final = seen.usage, seen.usage_final
            self.deltas += seen.deltas
            if seen.reported_output is not None:
                self.reported_output = max(self.reported_output, seen.reported_output)
            if self.output_seen() > self.covered_output:
                # This event is past what the reservation pays for: it is not forwarded.
                return out, "output_capped", (f"stopped: provider output passed the {self.covered_output} tokens "
                                              f"the reservation covers (seen >= {self.output_seen()})"), terminal
            if not seen.hide:
                out.append(event.raw)
            if seen.error:
                return out, "stream_error", f"error event mid-stream: {seen.error}", terminal
            terminal = terminal or seen.terminal
        return out, "", "", terminal

    async def _drain(self, parser: SSEParser, chunks: AsyncIterator[bytes]) -> list[bytes]:
        """After the provider's end event: whatever else it sends before EOF (normally nothing)."""
        out: list[bytes] = []
        try:
            while (chunk := await self._next(chunks)) is not None:
                out += self._absorb(parser.feed(chunk))[0]
            out += self._absorb(parser.close())[0]
        except (TimeoutError, httpx.HTTPError):
            pass  # the answer is complete; a broken tail changes nothing
        return out

    def _normal_end(self) -> tuple[str, str]:
        # Only the provider's final account settles exactly: a stream that ends after a partial count
        # (Anthropic's message_start, a Gemini chunk before finishReason) would be undercharged.
        if (self.usage_final and self.usage_payload is not None
                and self.adapter.extract_usage(self.usage_payload) is not None):
            return "ok", ""
        if self.usage_payload is not None:
            return "usage_missing", "the stream ended before the provider's final usage"
        return "usage_missing", "the stream ended without usage"

    def _sent(self, data: bytes) -> bytes:
        self._keep(data)
        if self.ttfb_ms is None:
            self.ttfb_ms = int((time.perf_counter() - self.started) * 1000)
        self.sent_bytes += len(data)
        return data

    def output_seen(self) -> int:
        """Output tokens the provider has certainly generated so far (a lower bound)."""
        return max(self.deltas, self.reported_output)

    def _keep(self, data: bytes) -> None:
        if self.store and len(self.ex.content) < STORED_STREAM_BYTES:
            self.ex.content += data[: STORED_STREAM_BYTES - len(self.ex.content)]

    # --- ending, exactly once ---------------------------------------------------------------

    def _claim(self) -> bool:
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
            return True

    def _facts(self, note: str) -> StreamFacts:
        self.ex.latency_ms = int((time.perf_counter() - self.started) * 1000)
        return StreamFacts(usage_final=self.usage_final, ttfb_ms=self.ttfb_ms, note=note)

    async def _finish(self, termination: str, note: str) -> None:
        if not self._claim():
            return
        task = self._loop.create_task(self._close_and_settle(termination, note))
        _finishing.add(task)
        task.add_done_callback(_finishing.discard)
        await asyncio.shield(task)

    async def _close_and_settle(self, termination: str, note: str) -> None:
        await self._close_upstream()
        self.settlement = await sync_to_async(self._settle)(termination, self.usage_payload, self._facts(note))

    def close(self) -> None:
        """Django's `response.close()`: a no-op after a finished stream; otherwise the iterator
        was abandoned (client gone) and this is the last chance to settle before the sweep."""
        if not self._claim():
            return
        note = f"client went away after {self.sent_bytes} bytes (stream abandoned)"
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread, as Django calls it: settle right here
            asyncio.run_coroutine_threadsafe(self._close_upstream(), self._loop)
            self.settlement = self._settle("client_disconnected", self.usage_payload, self._facts(note))
            return
        task = self._loop.create_task(self._close_and_settle("client_disconnected", note))
        _finishing.add(task)
        task.add_done_callback(_finishing.discard)

    async def _close_upstream(self) -> None:
        try:
            await self.response.aclose()  # unread body: httpx drops the connection, the provider sees it
        except Exception:
            logger.warning("closing the upstream stream failed", exc_info=True)
