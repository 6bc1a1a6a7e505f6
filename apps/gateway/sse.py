"""An incremental Server-Sent Events parser that keeps each event's original bytes.

The relay forwards what the provider sent byte for byte, so an event is only split out, never
re-serialized: `raw` is exactly the bytes from its first line to its blank line. Handles events
split across network chunks anywhere (even between `\\r` and `\\n`), `\\r\\n`, `\\r` and `\\n` line
endings, multi-line `data:`, comment lines (keepalives) and a final event with no blank line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EVENT_BYTES = 16 * 1024 * 1024  # a provider event larger than this is not a provider event


class EventTooLarge(ValueError):
    pass


@dataclass
class Event:
    raw: bytes  # the event's bytes as received, blank line included
    event: str = ""  # the `event:` field ("" when absent: the SSE default type "message")
    data_lines: list[str] = field(default_factory=list)
    comments: int = 0
    lines: int = 0  # non-blank lines seen

    @property
    def data(self) -> str:
        return "\n".join(self.data_lines)

    @property
    def has_data(self) -> bool:
        return bool(self.data_lines)


class SSEParser:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scan = 0  # where the line search resumes in _buffer
        self._event_start = 0  # start of the current event's raw bytes in _buffer
        self._current = Event(b"")

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        buf = self._buffer
        while True:
            line_end, next_start = self._next_line(buf, self._scan)
            if line_end < 0:
                break
            line = bytes(buf[self._scan:line_end])
            self._scan = next_start
            if line:
                self._field(line)
            elif self._current.lines:
                self._current.raw = bytes(buf[self._event_start:self._scan])
                events.append(self._current)
                self._current = Event(b"")
                self._event_start = self._scan
            # else: a stray blank line between events stays with the next event's bytes
        # Drop what has been emitted so the buffer only holds the event in progress.
        if self._event_start:
            del buf[:self._event_start]
            self._scan -= self._event_start
            self._event_start = 0
        if len(buf) > MAX_EVENT_BYTES:
            raise EventTooLarge(f"an SSE event exceeded {MAX_EVENT_BYTES} bytes")
        return events

    def close(self) -> list[Event]:
        """End of stream: a final event without its blank line is still an event; a lone `\\r`
        at the very end was a line end."""
        events = self.feed(b"\n") if self._buffer.endswith(b"\r") else []
        if self._scan < len(self._buffer):  # a last line without its line end
            self._field(bytes(self._buffer[self._scan:]))
        if self._current.lines:
            self._current.raw = bytes(self._buffer)
            events.append(self._current)
        self._buffer.clear()
        self._scan = self._event_start = 0
        self._current = Event(b"")
        return events

    @staticmethod
    def _next_line(buf: bytearray, start: int) -> tuple[int, int]:
        """(end of line, start of the next) or (-1, -1) if no complete line yet."""
        lf = buf.find(b"\n", start)
        cr = buf.find(b"\r", start, lf if lf >= 0 else len(buf))
        if cr >= 0:
            if cr + 1 == len(buf):
                return -1, -1  # `\r` at the end of what we have: wait to see whether `\n` follows
            return cr, cr + 2 if buf[cr + 1] == 0x0A else cr + 1
        if lf >= 0:
            return lf, lf + 1
        return -1, -1

    def _field(self, line: bytes) -> None:
        self._current.lines += 1
        if line.startswith(b":"):
            self._current.comments += 1
            return
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._current.data_lines.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._current.event = value.decode("utf-8", "replace")
        # `id` and `retry` concern the client's reconnection only; they stay in `raw`.
