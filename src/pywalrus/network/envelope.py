"""The Walrus JSON envelope of storage-node answers and errors (protocol page §8.1), both
sides: nodes build it, callers read it.

Success: `{"success": {"code": 200, "data": …}}`; errors follow AIP-193:
`{"error": {"status", "code", "message", "details": [{"@type": "ErrorInfo", "reason",
"domain": "storage.walrus.space", "metadata": {}}]}}`. Callers match on (reason, domain).
"""

from __future__ import annotations

import json
from typing import Any, Final

DOMAIN: Final = "storage.walrus.space"
STATUS_FOR_CODE: Final = {
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
"""The gRPC-style status name of each HTTP code nodes answer with."""


def success(data: Any, code: int = 200) -> dict[str, Any]:
    """A successful answer carrying `data`."""
    return {"success": {"code": code, "data": data}}


def error(code: int, reason: str, message: str, status: str | None = None) -> dict[str, Any]:
    """An error answer: HTTP `code`, machine-readable `reason`, human `message`; `status`
    defaults to the code's gRPC-style name."""
    return {
        "error": {
            "status": status or STATUS_FOR_CODE.get(code, "UNKNOWN"),
            "code": code,
            "message": message,
            "details": [{"@type": "ErrorInfo", "reason": reason, "domain": DOMAIN, "metadata": {}}],
        }
    }


def success_data(body: bytes) -> Any:
    """The `data` of a successful answer; `ValueError` if `body` is not one."""
    try:
        return json.loads(body)["success"]["data"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("response is not a Walrus envelope") from None


def error_reason(body: bytes) -> tuple[str, str]:
    """(reason, message) of an error answer; for a body that is not one, `UNKNOWN` and the
    body's first 200 bytes (what a proxy or another server may have answered)."""
    reason, message = "UNKNOWN", body[:200].decode(errors="replace")
    try:
        details = json.loads(body)["error"]
        message = details.get("message", message)
        reason = details["details"][0]["reason"]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        pass
    return reason, message
