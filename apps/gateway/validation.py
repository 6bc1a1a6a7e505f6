"""Small, strict readers for provider request bodies: every refusal is a 400 with a sentence."""

from __future__ import annotations

import json
import re
from typing import Any

from apps.core.errors import ApiError

MAX_OUTPUT_TOKENS = 10_000_000  # far above any model's limit; larger is a malformed request
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$")
PATH_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")  # goes into an upstream URL path


def bad(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, code=code)


def unbounded(what: str) -> ApiError:
    return ApiError(400, f"{what} cannot be bounded before the call, so SpendGuard refuses it", code="unbounded_input")


def parse_body(raw: bytes) -> dict[str, Any]:
    """JSON object or 400. NaN/Infinity are refused (they are not JSON and no provider takes them)."""

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        data = json.loads(raw, parse_constant=no_constants)
    except (ValueError, RecursionError, UnicodeDecodeError):  # JSONDecodeError is a ValueError; so is a 5000-digit int
        raise bad("Request body must be valid JSON") from None
    if not isinstance(data, dict):
        raise bad("Request body must be a JSON object")
    # A `\\ud800`-style escape decodes to a lone surrogate, which no provider accepts and which cannot
    # be re-encoded for the upstream call; the cheap byte search keeps the full check off the hot path.
    if LONE_SURROGATE_HINT.search(raw):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise bad("Request body contains an unpaired UTF-16 surrogate escape") from None
    return data


LONE_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def opt_int(obj: dict[str, Any], key: str, *, lo: int, hi: int, where: str = "") -> int | None:
    if key not in obj or obj[key] is None:
        return None
    value = obj[key]
    name = f"{where}{key}"
    if not is_int(value) or not lo <= value <= hi:
        raise bad(f"{name} must be an integer between {lo} and {hi}")
    return value


def opt_number(obj: dict[str, Any], key: str) -> float | int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"{key} must be a number")
    return value


def req_str(obj: dict[str, Any], key: str, *, where: str = "") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{where}{key} is required and must be a non-empty string")
    return value


def opt_str(obj: dict[str, Any], key: str, *, where: str = "") -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise bad(f"{where}{key} must be a string")
    return value


def type_field(obj: dict[str, Any], where: str, default: str | None = None) -> str | None:
    """An item's `type` discriminator: a string (or absent), never a list or object that would
    break the set lookups every adapter does with it."""
    value = obj.get("type", default)
    if value is not None and not isinstance(value, str):
        raise bad(f"{where}.type must be a string")
    return value


def model_name(obj: dict[str, Any]) -> str:
    model = req_str(obj, "model")
    if not MODEL_RE.match(model):
        raise bad("model must be a model name")
    return model


def list_of_dicts(value: Any, name: str, *, required: bool = False) -> list[dict[str, Any]]:
    if value is None:
        if required:
            raise bad(f"{name} is required and must be a non-empty array")
        return []
    if not isinstance(value, list) or (required and not value):
        raise bad(f"{name} must be a non-empty array" if required else f"{name} must be an array")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad(f"{name}[{i}] must be an object")
    return value


def stream_flag(body: dict[str, Any]) -> bool:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):  # not `in (True, False)`: 1 == True
        raise bad("stream must be a boolean")
    return stream is True


def output_limit(obj: dict[str, Any], keys: tuple[str, ...], *, where: str = "") -> int | None:
    """The largest output limit the request sets in any of its spellings (the provider may honour
    any of them), or None."""
    values = [v for k in keys if (v := opt_int(obj, k, lo=1, hi=MAX_OUTPUT_TOKENS, where=where)) is not None]
    return max(values) if values else None


def write_limit(obj: dict[str, Any], keys: tuple[str, ...], limit: int, default_key: str) -> None:
    """Lower every present spelling to the clamped limit (never raise a client's smaller value)."""
    present = [k for k in keys if obj.get(k) is not None]
    for key in present:
        obj[key] = min(obj[key], limit)
    if not present:
        obj[default_key] = limit
