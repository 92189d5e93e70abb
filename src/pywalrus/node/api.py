"""The Walrus JSON envelope for storage-node responses and errors (protocol page §8.1).

Success: `{"success": {"code": 200, "data": …}}`; errors follow AIP-193:
`{"error": {"status", "code", "message", "details": [{"@type": "ErrorInfo", "reason",
"domain": "storage.walrus.space", "metadata": {}}]}}`. Clients match on (reason, domain).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

DOMAIN = "storage.walrus.space"
STATUS_FOR_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "SIZE_EXCEEDED",
    416: "RANGE_NOT_SATISFIABLE",
    429: "RESOURCE_EXHAUSTED",
    451: "UNAVAILABLE_FOR_LEGAL_REASONS",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class NodeApiError(Exception):
    """An error answer: HTTP code, machine-readable reason, human message. `close` ends the
    connection after the answer (a request refused before its body was read)."""

    def __init__(
        self, code: int, reason: str, message: str, status: str | None = None, close: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status or STATUS_FOR_CODE.get(code, "UNKNOWN")
        self.close = close

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "status": self.status,
                "code": self.code,
                "message": self.message,
                "details": [
                    {
                        "@type": "ErrorInfo",
                        "reason": self.reason,
                        "domain": DOMAIN,
                        "metadata": {},
                    }
                ],
            }
        }

    def response(self) -> web.Response:
        response = web.json_response(self.envelope(), status=self.code)
        if self.close:
            response.force_close()
        return response


def bad_request(reason: str, message: str) -> NodeApiError:
    return NodeApiError(400, reason, message)


def not_found(reason: str, message: str) -> NodeApiError:
    return NodeApiError(404, reason, message)


def success(data: Any, code: int = 200) -> web.Response:
    return web.json_response({"success": {"code": code, "data": data}}, status=code)


def bcs(data: bytes) -> web.Response:
    return web.Response(body=data, content_type="application/octet-stream")


async def read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    """The whole request body: at most `limit` bytes (else 413, before reading anything when
    the announced length is larger), within `timeout_s` seconds (else 408)."""
    announced = request.content_length or 0
    if announced > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=announced)
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
                chunks.append(chunk)
    except TimeoutError:
        raise NodeApiError(
            408,
            "REQUEST_TIMEOUT",
            f"the request body did not arrive within {timeout_s:.0f} s",
            close=True,
        ) from None
    return b"".join(chunks)
