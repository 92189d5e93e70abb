"""The HTTP plumbing every service shares (protocol page §9.3), as upstream's client daemon
has it (`crates/walrus-service/src/client/daemon.rs`, `daemon/routes.rs`):

- `create_app`: an aiohttp app with CORS for any origin (preflight `OPTIONS` answered,
  `Access-Control-Max-Age: 86400`), `GET /status` answering `OK`, `GET /v1/api` serving the
  OpenAPI document of the routes added with `add_route`, request metrics, and every error as
  one line of upstream's JSON envelope (`{"error": {"status", "code", "message", "details":
  [{"@type": "ErrorInfo", "reason", "domain": "daemon.walrus.space", "metadata": {}}]}}`).
- `fail`: raise such an error from a handler (status, reason, one-line message).
- `query_params`: refuse query parameters a route does not know, as upstream's
  `deny_unknown_fields` query structs do (400, serde's message).
- `serve`: run an app on its bind address, with Prometheus `/metrics` on a second address,
  until SIGTERM or SIGINT, then shut down gracefully (in-flight requests may finish).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata as package_metadata
from typing import Any, Final, NoReturn

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from pywalrus.network.envelope import error as error_envelope
from pywalrus.runtime import until_terminated

log = logging.getLogger("pywalrus.services")

DOMAIN: Final = "daemon.walrus.space"
"""The error domain of upstream's client daemon (`DAEMON_ERROR_DOMAIN`)."""
STATUS_PATH: Final = "/status"
API_PATH: Final = "/v1/api"
METRICS_PATH: Final = "/metrics"
CORS_MAX_AGE_S: Final = 24 * 3600
SHUTDOWN_TIMEOUT_S: Final = 10.0
"""How long a stopping service lets in-flight requests finish before closing them."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServiceError(Exception):
    """An HTTP error a handler answers with: `status`, machine-readable `reason` (upstream's,
    e.g. `BLOB_NOT_FOUND`), a one-line human `message`, the envelope's status name where
    upstream's differs from the code's usual one (`SIZE_EXCEEDED` is a 403), and headers
    the answer carries (a 416's `Content-Range: bytes */size`)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        status_name: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = " ".join(message.split())
        self.status_name = status_name
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        response = error_response(self.status, self.reason, self.message, self.status_name)
        response.headers.update(self.headers)
        return response


def fail(status: int, reason: str, message: str, status_name: str | None = None) -> NoReturn:
    """Answer the request being handled with an error (see `ServiceError`)."""
    raise ServiceError(status, reason, message, status_name)


def error_response(
    status: int, reason: str, message: str, status_name: str | None = None
) -> web.Response:
    """Upstream's JSON error envelope, in the daemon's domain, on one line."""
    body = error_envelope(status, reason, " ".join(message.split()), status_name)
    body["error"]["details"][0]["domain"] = DOMAIN
    return web.Response(
        status=status, text=json.dumps(body, separators=(",", ":")), content_type="application/json"
    )


# Query parameters ---------------------------------------------------------------------------

QUERY_REASON: Final = "INVALID_QUERY"


def query_params(
    request: web.Request, allowed: Collection[str], required: Collection[str] = ()
) -> dict[str, str]:
    """The request's query parameters, refused with 400 as upstream's query structs refuse
    them (`#[serde(deny_unknown_fields)]` read by axum's `Query`): an unknown, repeated or
    missing parameter, with serde's wording."""
    params: dict[str, str] = {}
    for name, value in request.query.items():
        if name not in allowed:
            _bad_query(f"unknown field `{name}`, {_expected(list(allowed))}")
        if name in params:
            _bad_query(f"duplicate field `{name}`")
        params[name] = value
    for name in required:
        if name not in params:
            _bad_query(f"missing field `{name}`")
    return params


def query_bool(params: dict[str, str], name: str, default: bool = False) -> bool:
    """A boolean query parameter: `true` or `false`, as serde reads them."""
    value = params.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        _bad_query(f"{name}: provided string was not `true` or `false`")
    return value == "true"


def query_u64(params: dict[str, str], name: str) -> int:
    """An unsigned 64-bit integer query parameter (present: check with `required`)."""
    value = params[name]
    if not value.isascii() or not value.isdigit():
        _bad_query(f"{name}: invalid digit found in string")
    number = int(value)
    if number >= 1 << 64:
        _bad_query(f"{name}: number too large to fit in target type")
    return number


def _expected(names: list[str]) -> str:
    """serde's list of the fields a struct has."""
    quoted = [f"`{name}`" for name in names]
    if not quoted:
        return "there are no fields"
    if len(quoted) == 1:
        return f"expected {quoted[0]}"
    if len(quoted) == 2:
        return f"expected {quoted[0]} or {quoted[1]}"
    return "expected one of " + ", ".join(quoted)


def _bad_query(detail: str) -> NoReturn:
    fail(400, QUERY_REASON, f"Failed to deserialize query string: {detail}")


# The app ------------------------------------------------------------------------------------


class ServiceMetrics:
    """The metrics of one service process, in their own registry."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            f"walrus_{service}_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=r,
        )
        self.in_flight = Gauge(
            f"walrus_{service}_requests_in_flight", "HTTP requests being answered", registry=r
        )
        self.seconds = Histogram(
            f"walrus_{service}_request_seconds",
            "Time to answer an HTTP request, body included",
            ["route"],
            registry=r,
        )
        self.bytes_sent = Counter(
            f"walrus_{service}_body_bytes_sent", "Response body bytes sent", ["route"], registry=r
        )


@dataclass
class _Operation:
    method: str
    path: str
    summary: str
    parameters: tuple[str, ...]
    responses: tuple[int, ...]


METRICS: Final = web.AppKey("metrics", ServiceMetrics)
_OPERATIONS: Final = web.AppKey("operations", list[_Operation])
_TITLE: Final = web.AppKey("title", str)


def create_app(service: str, title: str, *, client_max_size: int = 1024**2) -> web.Application:
    """An app for the service named `service` (metric names: `walrus_<service>_…`), whose
    OpenAPI document is titled `title`: CORS, JSON errors, metrics, `/status` and `/v1/api`."""
    app = web.Application(client_max_size=client_max_size, middlewares=[_answer])
    app[METRICS] = ServiceMetrics(service)
    app[_OPERATIONS] = []
    app[_TITLE] = title
    app.on_response_prepare.append(_cors_headers)
    add_route(app, "GET", STATUS_PATH, _status, summary="The service is running.", responses=(200,))
    add_route(app, "GET", API_PATH, _api, summary="This OpenAPI document.", responses=(200,))
    return app


def add_route(
    app: web.Application,
    method: str,
    path: str,
    handler: Handler,
    *,
    summary: str,
    parameters: Iterable[str] = (),
    responses: Iterable[int] = (200, 400, 404, 500),
) -> None:
    """Register `handler` for `method path` (aiohttp's `{name}` templates, as OpenAPI's) and
    document it in `/v1/api` with its query `parameters` and response statuses. A `GET`
    route answers `HEAD` too (the handler sees `request.method == "HEAD"`)."""
    if method == "GET":
        app.router.add_get(path, handler, allow_head=True)
    else:
        app.router.add_route(method, path, handler)
    app[_OPERATIONS].append(_Operation(method, path, summary, tuple(parameters), tuple(responses)))


@web.middleware
async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Preflights, errors as JSON envelopes, and the request metrics."""
    if request.method == "OPTIONS":
        return web.Response(status=200)
    metrics = request.app[METRICS]
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    started = time.monotonic()
    metrics.in_flight.inc()
    try:
        response = await _handle(request, handler)
    finally:
        metrics.in_flight.dec()
    metrics.requests.labels(request.method, route, str(response.status)).inc()
    metrics.seconds.labels(route).observe(time.monotonic() - started)
    if response.body_length:
        metrics.bytes_sent.labels(route).inc(response.body_length)
    return response


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as exc:
        return exc.response()
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "PAYLOAD_TOO_LARGE", exc.text or "request body is too large")
    except web.HTTPNotFound:
        return error_response(404, "NOT_FOUND", f"no route {request.path}")
    except web.HTTPMethodNotAllowed:
        return error_response(405, "METHOD_NOT_ALLOWED", f"{request.method} {request.path}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, "INVALID_ARGUMENT", exc.reason)


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """CORS as upstream's `daemon_cors_layer` (tower-http: any origin, method and header,
    max-age 24 h), on every response, streamed ones included. Beyond upstream, the response
    headers are exposed to scripts (`Content-Range`, `ETag` and the attribute headers)."""
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = "*"
    headers["Vary"] = "origin, access-control-request-method, access-control-request-headers"
    if request.method == "OPTIONS":
        headers["Access-Control-Allow-Methods"] = "*"
        headers["Access-Control-Allow-Headers"] = "*"
        headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
    else:
        headers["Access-Control-Expose-Headers"] = "*"


async def _status(request: web.Request) -> web.StreamResponse:
    return web.Response(text="OK")


async def _api(request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi_document(request.app))


def openapi_document(app: web.Application) -> dict[str, Any]:
    """An OpenAPI 3.1 document of the app's routes, with upstream's `Status` error schema."""
    paths: dict[str, dict[str, Any]] = {}
    for op in app[_OPERATIONS]:
        names = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names
        ] + [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in op.parameters
        ]
        responses = {
            str(status): (
                {"description": "Success"}
                if status < 400
                else {
                    "description": "Error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Status"}}
                    },
                }
            )
            for status in op.responses
        }
        paths.setdefault(op.path, {})[op.method.lower()] = {
            "summary": op.summary,
            "parameters": parameters,
            "responses": responses,
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": app[_TITLE], "version": _version()},
        "paths": paths,
        "components": {"schemas": {"Status": _STATUS_SCHEMA}},
    }


_STATUS_SCHEMA: Final = {
    "type": "object",
    "description": "A message returned from a failed API call.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message", "details"],
            "properties": {
                "code": {"type": "integer", "description": "HTTP status code of the error."},
                "status": {"type": "string", "description": "UPPER_SNAKE_CASE error type."},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}


def _version() -> str:
    try:
        return package_metadata.version("pywalrus")
    except package_metadata.PackageNotFoundError:
        return "0"


# Running ------------------------------------------------------------------------------------


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` (`[v6]:port` for IPv6) as a (host, port) pair; `ValueError` if not one."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not a host:port address: {address!r}")
    return host.strip("[]"), int(port)


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """An app serving `registry` as Prometheus text at `GET /metrics`."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    return app


async def start(app: web.Application, address: str) -> tuple[web.AppRunner, tuple[str, int]]:
    """Start serving `app` on `address` (port 0: any free one); the runner and the bound
    (host, port). `runner.cleanup()` stops it, letting in-flight requests finish."""
    host, port = parse_address(address)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    assert runner.addresses, "a started site has an address"
    bound = runner.addresses[0]
    return runner, (str(bound[0]), int(bound[1]))


async def serve(app: web.Application, bind_address: str, metrics_address: str | None) -> None:
    """Serve `app` on `bind_address` and its metrics on `metrics_address` (none: no metrics
    server) until SIGTERM or SIGINT, then stop gracefully."""
    runners = []
    runner, (host, port) = await start(app, bind_address)
    runners.append(runner)
    log.info("%s listening on http://%s:%d", app[_TITLE], host, port)
    if metrics_address is not None:
        metrics_runner, (mhost, mport) = await start(
            metrics_app(app[METRICS].registry), metrics_address
        )
        runners.append(metrics_runner)
        log.info("%s metrics on http://%s:%d%s", app[_TITLE], mhost, mport, METRICS_PATH)
    try:
        await until_terminated()
        log.info("%s stopping", app[_TITLE])
    finally:
        for each in runners:
            await each.cleanup()
