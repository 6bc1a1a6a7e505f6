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
                keep = await self._respond(method, path, headers, raw, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, headers: dict[str, str], raw: bytes,
                       writer: asyncio.StreamWriter) -> bool:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if self.record and not path.startswith("/_fake"):
            with self._lock:
                self.received.append(Received(method, path, headers, body, time.time()))
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
        if ":generateContent" in path:
            model = path.rsplit("/", 1)[-1].split(":")[0]
            config = body.get("generationConfig") or body.get("generation_config") or {}
            n = config.get("candidateCount") or config.get("candidate_count") or 1
            return "gemini", gemini_generate(body, usage(_limit(config, "maxOutputTokens", "max_output_tokens"), n),
                                             model)
        return "openai", {"error": {"message": f"no route {path}"}}

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
