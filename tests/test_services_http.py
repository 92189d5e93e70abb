"""The HTTP plumbing of every service (services/http.py), on a real loopback server: CORS,
preflights, the JSON error envelope, refused query parameters, /status, /v1/api, /metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from pywalrus.services import http


async def _echo(request: web.Request) -> web.StreamResponse:
    params = http.query_params(request, ("start", "flag"), required=("start",))
    start = http.query_u64(params, "start")
    flag = http.query_bool(params, "flag")
    if start == 404:
        http.fail(404, "BLOB_NOT_FOUND", "the requested blob ID does not exist\non Walrus")
    return web.json_response({"start": start, "flag": flag})


@pytest.fixture
async def base() -> AsyncIterator[str]:
    app = http.create_app("test", "Walrus Test")
    http.add_route(app, "GET", "/v1/echo/{blob_id}", _echo, summary="Echo.", parameters=["start"])
    runner, (host, port) = await http.start(app, "127.0.0.1:0")
    metrics, (mhost, mport) = await http.start(
        http.metrics_app(app[http.METRICS].registry), "127.0.0.1:0"
    )
    yield f"http://{host}:{port}|http://{mhost}:{mport}"
    await runner.cleanup()
    await metrics.cleanup()


async def _get(url: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, dict(response.headers), await response.read()


async def test_status_api_and_cors(base: str) -> None:
    url, _ = base.split("|")
    status, headers, body = await _get(url + "/status", headers={"Origin": "https://x.example"})
    assert (status, body) == (200, b"OK")
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, _, body = await _get(url + "/v1/api")
    document = json.loads(body)
    assert document["openapi"].startswith("3.")
    assert "/v1/echo/{blob_id}" in document["paths"]
    assert document["paths"]["/v1/echo/{blob_id}"]["get"]["parameters"][0]["name"] == "blob_id"


async def test_preflight_answered(base: str) -> None:
    url, _ = base.split("|")
    async with (
        aiohttp.ClientSession() as session,
        session.options(
            url + "/v1/echo/x",
            headers={
                "Origin": "https://x.example",
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type,authorization",
            },
        ) as response,
    ):
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "*"
        assert response.headers["Access-Control-Allow-Headers"] == "*"
        assert response.headers["Access-Control-Max-Age"] == "86400"


def _error(body: bytes) -> dict[str, object]:
    assert b"\n" not in body
    parsed = json.loads(body)["error"]
    assert isinstance(parsed, dict)
    return parsed


async def test_errors_are_one_line_envelopes(base: str) -> None:
    url, _ = base.split("|")
    status, headers, body = await _get(url + "/v1/echo/x?start=404")
    assert status == 404
    assert headers["Access-Control-Allow-Origin"] == "*"
    error = _error(body)
    assert error["code"] == 404 and error["status"] == "NOT_FOUND"
    assert error["message"] == "the requested blob ID does not exist on Walrus"
    assert error["details"] == [
        {
            "@type": "ErrorInfo",
            "reason": "BLOB_NOT_FOUND",
            "domain": "daemon.walrus.space",
            "metadata": {},
        }
    ]
    status, _, body = await _get(url + "/no/such/route")
    assert status == 404 and _error(body)["code"] == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=1&bogus=2", "unknown field `bogus`, expected `start` or `flag`"),
        ("start=1&start=2", "duplicate field `start`"),
        ("flag=true", "missing field `start`"),
        ("start=-1", "start: invalid digit found in string"),
        ("start=18446744073709551616", "start: number too large to fit in target type"),
        ("start=1&flag=yes", "flag: provided string was not `true` or `false`"),
    ],
)
async def test_query_refused_as_upstream(base: str, query: str, message: str) -> None:
    url, _ = base.split("|")
    status, _, body = await _get(f"{url}/v1/echo/x?{query}")
    assert status == 400
    error = _error(body)
    assert error["message"] == f"Failed to deserialize query string: {message}"
    status, _, body = await _get(f"{url}/v1/echo/x?start=7&flag=true")
    assert (status, json.loads(body)) == (200, {"start": 7, "flag": True})


async def test_metrics_count_requests(base: str) -> None:
    url, metrics_url = base.split("|")
    for _ in range(3):
        await _get(url + "/v1/echo/x?start=1")
    status, _, body = await _get(metrics_url + "/metrics")
    assert status == 200
    line = next(
        line
        for line in body.decode().splitlines()
        if line.startswith("walrus_test_requests_total{")
        and 'route="/v1/echo/{blob_id}"' in line
        and 'status="200"' in line
    )
    assert float(line.split()[-1]) == 3.0


def test_parse_address() -> None:
    assert http.parse_address("127.0.0.1:31415") == ("127.0.0.1", 31415)
    assert http.parse_address("[::1]:80") == ("::1", 80)
    for bad in ("localhost", ":80", "host:port", "h:70000"):
        with pytest.raises(ValueError, match="host:port"):
            http.parse_address(bad)
