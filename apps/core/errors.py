"""One error shape for every route: `{"detail": "...", "error": {"message", "type", "code"}}`.

`detail` is the human sentence the spendguard CLI prints; `error` is what provider SDKs parse.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

logger = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_budget",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}


class ApiError(Exception):
    """Raised by services and views; rendered as the standard error body."""

    def __init__(self, status: int, detail: str, *, code: str | None = None, type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _TYPES.get(status, "error")
        self.type = type or _TYPES.get(status, "error")


def error_body(status: int, detail: str, *, code: str | None = None, type: str | None = None) -> dict[str, Any]:
    kind = type or _TYPES.get(status, "error")
    return {"detail": detail, "error": {"message": detail, "type": kind, "code": code or kind}}


def error_response(status: int, detail: str, *, code: str | None = None, type: str | None = None) -> JsonResponse:
    return JsonResponse(error_body(status, detail, code=code, type=type), status=status)


def _field_path(loc: list[Any]) -> str:
    # Ninja prefixes locations with the parameter source and name ("body", "payload").
    parts = [str(p) for p in loc if p not in ("body", "payload", "path", "query", "header")]
    return ".".join(parts)


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "Invalid request"
    first = errors[0]
    field = _field_path(list(first.get("loc", [])))
    kind = first.get("type", "")
    if not field and kind in {"model_attributes_type", "dict_type", "model_type", "json_invalid"}:
        return "Request body must be a JSON object"
    if kind == "missing":
        return f"{field} is required" if field else "Request body is required"
    msg = first.get("msg", "is invalid")
    if kind == "uuid_parsing":
        return f"{field} must be a UUID"
    return f"{field}: {msg}" if field else msg


def install_error_handlers(api: NinjaAPI) -> None:
    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.detail, code=exc.code, type=exc.type)

    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return error_response(400, describe_validation_errors(exc.errors))

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        # Ninja wraps whatever the body parser raised in a generic 400; unwrap ours.
        cause = exc.__cause__
        if isinstance(cause, ApiError):
            return on_api_error(request, cause)
        if isinstance(cause, RequestDataTooBig):
            return on_too_big(request, cause)
        if isinstance(exc, AuthenticationError):
            return error_response(401, "Missing API key")
        return error_response(exc.status_code, str(exc))

    def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "Not found")

    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return error_response(413, "Request body too large")

    def on_bad_json(request: HttpRequest, exc: json.JSONDecodeError) -> HttpResponse:
        return error_response(400, "Request body must be valid JSON")

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal server error")

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_404)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(json.JSONDecodeError, on_bad_json)
    api.add_exception_handler(UnicodeDecodeError, on_bad_json)
    api.add_exception_handler(Exception, on_unexpected)


class StrictJSONParser(Parser):
    """Every JSON body we accept is an object; say so plainly instead of a field-level error."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            data = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "Request body must be valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return data
