"""How the node's routes answer: `NodeApiError` (an error answer raised by a route and turned
into a response by the error middleware), the success and BCS responses, and bounded body
reads. The envelope itself (`pywalrus.network.envelope`) is shared with the node's callers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from pywalrus.network import envelope


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
        self.status = status
        self.close = close

    def envelope(self) -> dict[str, Any]:
        return envelope.error(self.code, self.reason, self.message, self.status)

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
    return web.json_response(envelope.success(data, code), status=code)


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
