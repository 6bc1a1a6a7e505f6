"""A fake provider upstream: a real HTTP/1.1 server on loopback speaking the four wire formats.

Raw asyncio streams rather than a framework, so it can also misbehave like a network: drop the
connection before answering or halfway through the body. Knobs are request headers (SpendGuard
forwards unknown headers), so each test call chooses its own behaviour:

    x-fake-status: 400|429|500      provider-style error body (429 adds retry-after)
    x-fake-retry-after: seconds
    x-fake-delay: seconds           sleep before answering
    x-fake-drop: before|mid         close the connection without / halfway through a response
    x-fake-garbage: 1               200 with a body that is not JSON
    x-fake-usage: {"input": 10, "output": 5, "cached": 2, "reasoning": 1, "cache_write": 3,
                   "cache_read": 4, "thoughts": 2, "tool_prompt": 7, "searches": 1, "queries": 2}

Streams (`"stream": true`, or Gemini's `:streamGenerateContent`) come as SSE in each provider's
event format, text `stream_text(chunks)` split one piece per delta event, chunked HTTP/1.1:

    x-fake-chunks: N                text delta events (default 5)
    x-fake-pause: seconds           pause before each delta event
    x-fake-ignore-limit: 1          ignore max_tokens: keep streaming deltas until the client leaves
    x-fake-error-after: K           after K deltas send the provider's error event and end
    x-fake-drop: mid                (streams) close the connection after half the deltas
    x-fake-split: 1                 write every event in 3-byte pieces (events split across reads)
    x-fake-keepalive: 1             a comment line (`: keepalive`) between events
    x-fake-incomplete: 1            Responses: end with `response.incomplete` instead of completed
    x-fake-no-usage: 1              chat: no usage chunk, even when include_usage asks for it

A streamed request's `Received.stream` records how it ended: {"sent": deltas, "outcome":
"complete" | "client_closed" | "dropped" | "error_event"}.

Every request is recorded (method, path, headers, JSON body) for assertions. Run standalone with
`python -m tests.support.fake_upstream --port 9999` (the benchmark does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

COMPLETION = "Hello from the fake upstream."


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    stream: dict[str, Any] | None = None


def _limit(body: dict, *keys: str, default: int = 16) -> int:
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return default


def default_usage(raw_len: int, limit: int, choices: int) -> dict[str, int]:
    """Plausible numbers that stay within any honest bound: input ≤ body bytes / 8, output ≤ limit."""
    inp = max(1, raw_len // 8)
    out = min(limit, 12) * choices
    return {"input": inp, "output": out, "cached": inp // 3, "reasoning": out // 3, "cache_write": inp // 4,
            "cache_read": inp // 4, "thoughts": out // 3, "tool_prompt": 0, "searches": 0, "queries": 0}


def openai_chat(body: dict, u: dict[str, int]) -> dict:
    n = body.get("n") or 1
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model"), "system_fingerprint": "fp_fake",
        "choices": [{"index": i, "message": {"role": "assistant", "content": COMPLETION, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"} for i in range(n)],
        "usage": {"prompt_tokens": u["input"], "completion_tokens": u["output"],
                  "total_tokens": u["input"] + u["output"],
                  "prompt_tokens_details": {"cached_tokens": u["cached"], "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": u["reasoning"], "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
    }


def openai_responses(body: dict, u: dict[str, int]) -> dict:
    output: list[dict] = [{"id": f"ws_{i}", "type": "web_search_call", "status": "completed",
                           "action": {"type": "search", "query": "q"}} for i in range(u["searches"])]
    output.append({"id": f"msg_{uuid.uuid4().hex[:8]}", "type": "message", "status": "completed",
                   "role": "assistant", "content": [{"type": "output_text", "text": COMPLETION, "annotations": []}]})
    return {
        "id": f"resp_{uuid.uuid4().hex[:12]}", "object": "response", "created_at": int(time.time()),
        "status": "completed", "model": body.get("model"), "output": output, "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": body.get("tools", []), "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "metadata": {}, "temperature": 1.0, "top_p": 1.0,
        "max_output_tokens": body.get("max_output_tokens"),
        "usage": {"input_tokens": u["input"], "input_tokens_details": {"cached_tokens": u["cached"]},
                  "output_tokens": u["output"], "output_tokens_details": {"reasoning_tokens": u["reasoning"]},
                  "total_tokens": u["input"] + u["output"]},
    }


def anthropic_messages(body: dict, u: dict[str, int]) -> dict:
    base = max(0, u["input"] - u["cache_write"] - u["cache_read"])
    return {
        "id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "model": body.get("model"),
        "content": [{"type": "text", "text": COMPLETION}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": base, "output_tokens": u["output"],
                  "cache_creation_input_tokens": u["cache_write"], "cache_read_input_tokens": u["cache_read"]},
    }


def gemini_generate(body: dict, u: dict[str, int], model: str) -> dict:
    config = body.get("generationConfig") or body.get("generation_config") or {}
    n = config.get("candidateCount") or config.get("candidate_count") or 1
    thoughts = min(u["thoughts"], u["output"])
    meta = {"promptTokenCount": u["input"], "candidatesTokenCount": u["output"] - thoughts,
            "thoughtsTokenCount": thoughts, "cachedContentTokenCount": u["cached"],
            "totalTokenCount": u["input"] + u["output"] + u["tool_prompt"]}
    if u["tool_prompt"]:
        meta["toolUsePromptTokenCount"] = u["tool_prompt"]
    candidates = []
    for i in range(n):
        cand = {"content": {"role": "model", "parts": [{"text": COMPLETION}]}, "finishReason": "STOP", "index": i}
        if u["queries"]:
            cand["groundingMetadata"] = {"webSearchQueries": [f"q{j}" for j in range(u["queries"])]}
        candidates.append(cand)
    return {"candidates": candidates, "usageMetadata": meta, "modelVersion": model,
            "responseId": uuid.uuid4().hex[:16]}


def stream_piece(i: int) -> str:
    return f"tok{i} " if i % 7 else f"wörd{i}✓ "  # some multi-byte text, split across events


def stream_text(chunks: int) -> str:
    """The text a stream of `chunks` delta events carries (per choice)."""
    return "".join(stream_piece(i) for i in range(chunks))


def sse(data: Any, event: str | None = None, eol: str = "\n") -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}{eol}" if event else ""
    return f"{head}data: {text}{eol}{eol}".encode()


class StreamFormat:
    """One provider's stream: `start` events, one `delta(i)` per text piece, `end` events."""

    def __init__(self, kind: str, path: str, body: dict, u: dict[str, int], chunks: int, headers: dict[str, str]):
        self.kind, self.path, self.body, self.u, self.chunks, self.headers = kind, path, body, u, chunks, headers
        self.id = uuid.uuid4().hex[:12]
        if kind == "chat":
            self.n = body.get("n") or 1
            self.with_usage = ((body.get("stream_options") or {}).get("include_usage") is True
                               and not headers.get("x-fake-no-usage"))
        elif kind == "gemini":
            config = body.get("generationConfig") or body.get("generation_config") or {}
            self.n = config.get("candidateCount") or config.get("candidate_count") or 1
        else:
            self.n = 1

    # -- chat ---------------------------------------------------------------------------------
    def _chat(self, choices: list[dict], usage: Any = None) -> bytes:
        chunk = {"id": f"chatcmpl-{self.id}", "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": self.body.get("model"), "system_fingerprint": "fp_fake", "choices": choices}
        if self.with_usage:
            chunk["usage"] = usage
        return sse(chunk)

    def start(self) -> list[bytes]:
        if self.kind == "chat":
            return [self._chat([{"index": c, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                 "finish_reason": None} for c in range(self.n)])]
        if self.kind == "responses":
            resp = self._response("in_progress", "", usage=None)
            return [sse({"type": "response.created", "sequence_number": 0, "response": resp}, "response.created"),
                    sse({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
                         "item": {"id": f"msg_{self.id}", "type": "message", "status": "in_progress",
                                  "role": "assistant", "content": []}}, "response.output_item.added"),
                    sse({"type": "response.content_part.added", "sequence_number": 2, "item_id": f"msg_{self.id}",
                         "output_index": 0, "content_index": 0,
                         "part": {"type": "output_text", "text": "", "annotations": []}},
                        "response.content_part.added")]
        if self.kind == "anthropic":
            u = self.u
            base = max(0, u["input"] - u["cache_write"] - u["cache_read"])
            message = {"id": f"msg_{self.id}", "type": "message", "role": "assistant", "model": self.body.get("model"),
                       "content": [], "stop_reason": None, "stop_sequence": None,
                       "usage": {"input_tokens": base, "cache_creation_input_tokens": u["cache_write"],
                                 "cache_read_input_tokens": u["cache_read"], "output_tokens": 1}}
            return [sse({"type": "message_start", "message": message}, "message_start"),
                    sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                        "content_block_start"),
                    sse({"type": "ping"}, "ping")]
        return []

    def delta(self, i: int) -> bytes:
        text = stream_piece(i)
        if self.kind == "chat":
            return self._chat([{"index": c, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
                               for c in range(self.n)])
        if self.kind == "responses":
            return sse({"type": "response.output_text.delta", "sequence_number": 3 + i, "item_id": f"msg_{self.id}",
                        "output_index": 0, "content_index": 0, "delta": text, "logprobs": []},
                       "response.output_text.delta")
        if self.kind == "anthropic":
            return sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
                       "content_block_delta")
        chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": c}
                                for c in range(self.n)],
                 "usageMetadata": {"promptTokenCount": self.u["input"], "candidatesTokenCount": (i + 1) * self.n,
                                   "totalTokenCount": self.u["input"] + (i + 1) * self.n},
                 "modelVersion": self.model(), "responseId": self.id}
        return sse(chunk, eol="\r\n")

    def model(self) -> str:
        return self.path.rsplit("/", 1)[-1].split(":")[0]

    def _response(self, status: str, text: str, usage: Any) -> dict:
        out = [] if status == "in_progress" else [
            {"id": f"msg_{self.id}", "type": "message", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": text, "annotations": []}]}]
        return {"id": f"resp_{self.id}", "object": "response", "created_at": int(time.time()), "status": status,
                "model": self.body.get("model"), "output": out, "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": [], "error": None, "instructions": self.body.get("instructions"), "metadata": {},
                "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
                "max_output_tokens": self.body.get("max_output_tokens"), "usage": usage}

    def end(self) -> list[bytes]:
        u = self.u
        if self.kind == "chat":
            events = [self._chat([{"index": c, "delta": {}, "logprobs": None, "finish_reason": "stop"}
                                  for c in range(self.n)])]
            if self.with_usage:
                events.append(self._chat([], openai_chat(self.body, u)["usage"]))
            return events + [sse("[DONE]")]
        if self.kind == "responses":
            usage = openai_responses(self.body, u)["usage"]
            text = stream_text(self.chunks)
            status = "incomplete" if self.headers.get("x-fake-incomplete") else "completed"
            kind = f"response.{status}"
            return [sse({"type": "response.output_text.done", "sequence_number": 900, "item_id": f"msg_{self.id}",
                         "output_index": 0, "content_index": 0, "text": text, "logprobs": []},
                        "response.output_text.done"),
                    sse({"type": kind, "sequence_number": 901, "response": self._response(status, text, usage)}, kind)]
        if self.kind == "anthropic":
            return [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                    sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                         "usage": {"output_tokens": u["output"]}}, "message_delta"),
                    sse({"type": "message_stop"}, "message_stop")]
        final = gemini_generate(self.body, u, self.model())
        for cand in final["candidates"]:
            cand["content"]["parts"] = [{"text": ""}]
        final["responseId"] = self.id
        return [sse(final, eol="\r\n")]

    def error(self) -> bytes:
        if self.kind == "chat":
            return sse({"error": {"message": "Stream error (fake)", "type": "server_error", "code": None}})
        if self.kind == "responses":
            return sse({"type": "error", "code": "server_error", "message": "Stream error (fake)", "param": None,
                        "sequence_number": 999}, "error")
        if self.kind == "anthropic":
            return sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded (fake)"}},
                       "error")
        return sse({"error": {"code": 500, "message": "Stream error (fake)", "status": "INTERNAL"}}, eol="\r\n")


def error_body(kind: str, status: int) -> dict:
    message = {400: "Invalid request (fake)", 429: "Rate limit reached (fake)", 500: "Server error (fake)"}.get(
        status, "Error (fake)")
    if kind == "anthropic":
        etype = {400: "invalid_request_error", 429: "rate_limit_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": etype, "message": message}}
    if kind == "gemini":
        gstatus = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}.get(status, "INTERNAL")
        return {"error": {"code": status, "message": message, "status": gstatus}}
    return {"error": {"message": message, "type": "invalid_request_error" if status == 400 else "server_error",
                      "param": None, "code": None}}


class FakeUpstream:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, record: bool = True) -> None:
        self.host, self.port, self.record = host, port, record
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- lifecycle ----------------------------------------------------------------------------

    async def serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeUpstream:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if not (self._loop and self._server):
            return

        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop.close()

    def requests_for(self, test_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.headers.get("x-test-id") == test_id]

    # --- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                keep = await self._respond(method, path, headers, raw, reader, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, headers: dict[str, str], raw: bytes,
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        received = Received(method, path, headers, body, time.time())
        if self.record and not path.startswith("/_fake"):
            with self._lock:
                self.received.append(received)
        if path == "/_fake/health":
            return await self._send(writer, 200, {"status": "ok"})
        delay = float(headers.get("x-fake-delay", "0") or 0)
        if delay:
            await asyncio.sleep(delay)
        drop = headers.get("x-fake-drop")
        if drop == "before":
            return False
        kind, payload = self._answer(path, headers, body if isinstance(body, dict) else {}, len(raw))
        status = int(headers.get("x-fake-status", "200"))
        streamed = ":streamGenerateContent" in path or (isinstance(body, dict) and body.get("stream") is True)
        if streamed and status == 200 and not headers.get("x-fake-garbage"):
            return await self._stream(path, headers, body, len(raw), reader, writer, received)
        extra: dict[str, str] = {"x-request-id": f"req_{uuid.uuid4().hex[:10]}"}
        if status != 200:
            payload = error_body(kind, status)
            if status == 429:
                extra["retry-after"] = headers.get("x-fake-retry-after", "7")
        if headers.get("x-fake-garbage"):
            return await self._send(writer, 200, None, extra, raw_body=b"<html>not json</html>")
        return await self._send(writer, status, payload, extra, truncate=drop == "mid")

    def _answer(self, path: str, headers: dict[str, str], body: dict, raw_len: int) -> tuple[str, dict]:
        def usage(limit: int, choices: int = 1) -> dict[str, int]:
            u = default_usage(raw_len, limit, choices)
            u.update(json.loads(headers.get("x-fake-usage", "{}")))
            return u

        if path.endswith("/chat/completions"):
            return "openai", openai_chat(body, usage(_limit(body, "max_completion_tokens", "max_tokens"),
                                                     body.get("n") or 1))
        if path.endswith("/responses"):
            return "openai", openai_responses(body, usage(_limit(body, "max_output_tokens")))
        if path.endswith("/v1/messages"):
            return "anthropic", anthropic_messages(body, usage(_limit(body, "max_tokens")))
        if ":generateContent" in path or ":streamGenerateContent" in path:
            model = path.rsplit("/", 1)[-1].split(":")[0]
            config = body.get("generationConfig") or body.get("generation_config") or {}
            n = config.get("candidateCount") or config.get("candidate_count") or 1
            return "gemini", gemini_generate(body, usage(_limit(config, "maxOutputTokens", "max_output_tokens"), n),
                                             model)
        return "openai", {"error": {"message": f"no route {path}"}}

    async def _stream(self, path: str, headers: dict[str, str], body: dict, raw_len: int,
                      reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> bool:
        if path.endswith("/chat/completions"):
            kind, limit = "chat", _limit(body, "max_completion_tokens", "max_tokens")
        elif path.endswith("/responses"):
            kind, limit = "responses", _limit(body, "max_output_tokens")
        elif path.endswith("/v1/messages"):
            kind, limit = "anthropic", _limit(body, "max_tokens")
        else:
            config = body.get("generationConfig") or body.get("generation_config") or {}
            kind, limit = "gemini", _limit(config, "maxOutputTokens", "max_output_tokens")
        chunks = int(headers.get("x-fake-chunks", "5"))
        ignore = bool(headers.get("x-fake-ignore-limit"))
        error_after = int(headers["x-fake-error-after"]) if headers.get("x-fake-error-after") else None
        drop_at = chunks // 2 if headers.get("x-fake-drop") == "mid" else None
        pause = float(headers.get("x-fake-pause", "0") or 0)
        u = default_usage(raw_len, limit, 1)
        u.update(json.loads(headers.get("x-fake-usage", "{}")))
        fmt = StreamFormat(kind, path, body, u, chunks, headers)
        state: dict[str, Any] = {"sent": 0, "outcome": "streaming"}
        received.stream = state
        content_type = "text/event-stream; charset=utf-8" if kind != "gemini" else "text/event-stream"
        head = ["HTTP/1.1 200 OK", f"content-type: {content_type}", "transfer-encoding: chunked",
                "cache-control: no-cache", "connection: keep-alive", f"x-request-id: req_{uuid.uuid4().hex[:10]}"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        split = bool(headers.get("x-fake-split"))
        keepalive = bool(headers.get("x-fake-keepalive"))
        gone = asyncio.Event()

        async def watch() -> None:  # EOF from the client (it sends nothing mid-response) means it left
            try:
                while await reader.read(1024):
                    pass
            except ConnectionError:
                pass
            gone.set()

        watcher = asyncio.create_task(watch())

        async def emit(data: bytes) -> None:
            pieces = [data[i:i + 3] for i in range(0, len(data), 3)] if split else [data]
            for piece in pieces:
                if gone.is_set():
                    raise ConnectionResetError
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
            if keepalive:
                writer.write(b"d\r\n: keepalive\n\n\r\n")
                await writer.drain()

        try:
            for event in fmt.start():
                await emit(event)
            i = 0
            while i < chunks or ignore:
                if pause:
                    await asyncio.sleep(pause)
                if drop_at is not None and i >= drop_at:
                    state["outcome"] = "dropped"
                    writer.transport.abort()
                    return False
                if error_after is not None and i >= error_after:
                    await emit(fmt.error())
                    state["outcome"] = "error_event"
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    return True
                await emit(fmt.delta(i))
                i += 1
                state["sent"] = i
                if ignore and i >= 1_000_000:
                    break
            for event in fmt.end():
                await emit(event)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            state["outcome"] = "complete"
            return True
        except (ConnectionError, RuntimeError):
            state["outcome"] = "client_closed"
            return False
        finally:
            state["finished_at"] = time.time()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, payload: Any, extra: dict[str, str] | None = None,
                    *, raw_body: bytes | None = None, truncate: bool = False) -> bool:
        data = raw_body if raw_body is not None else json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error"}.get(
            status, "Status")
        head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(data)}",
                "connection: keep-alive"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if truncate:
            writer.write(data[: len(data) // 2])
            await writer.drain()
            return False
        writer.write(data)
        await writer.drain()
        return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    fake = FakeUpstream(port=args.port, record=False)

    async def run() -> None:
        await fake.serve()
        print(f"fake upstream on {fake.url}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


if __name__ == "__main__":
    main()
