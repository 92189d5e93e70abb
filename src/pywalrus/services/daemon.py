"""Running the HTTP services as a process: `walrus aggregator`, `walrus publisher` and
`walrus daemon` (both on one app, as upstream's daemon), until SIGTERM or SIGINT.

One `WalrusClient` serves every route of the process (its committee view, node sessions and
metadata cache are shared by all requests); the publisher's part is added by whoever builds
it (`PublisherSetup`), so this module needs to know nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from aiohttp import web
from prometheus_client import Gauge

from pywalrus.client.client import WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.services.aggregator import Aggregator, AggregatorOptions, add_aggregator_routes
from pywalrus.services.http import METRICS, create_app, serve

DEFAULT_BIND_ADDRESS: Final = "127.0.0.1:31415"
DEFAULT_METRICS_ADDRESS: Final = "127.0.0.1:27182"
"""Upstream's defaults (`client/cli/args.rs`)."""
CLIENT_MAX_SIZE: Final = 1024**2
"""Request bodies an aggregator accepts (concat's JSON); a publisher raises it."""

PublisherSetup = Callable[[WalrusClient, web.Application], None]
"""Adds the publisher's routes (and whatever they need) to an app."""


def build_app(
    kind: str,
    client: WalrusClient,
    aggregator: AggregatorOptions | None,
    publisher: PublisherSetup | None,
) -> web.Application:
    """The app of an aggregator, a publisher or a daemon (`kind`) over `client`."""
    app = create_app(kind, f"Walrus {kind.capitalize()}", client_max_size=CLIENT_MAX_SIZE)
    if aggregator is not None:
        service = Aggregator(client, aggregator)
        add_aggregator_routes(app, service)
        _cache_metrics(app, kind, service)
    if publisher is not None:
        publisher(client, app)

    async def close(app: web.Application) -> None:
        await client.close()

    app.on_cleanup.append(close)
    return app


def _cache_metrics(app: web.Application, kind: str, service: Aggregator) -> None:
    registry = app[METRICS].registry
    cache = service.cache
    for name, doc, read in (
        ("cache_bytes", "Bytes of blobs in the aggregator's cache", lambda: cache.size),
        ("cache_blobs", "Blobs in the aggregator's cache", lambda: len(cache)),
        ("cache_hits", "Reads answered from the cache", lambda: cache.hits),
        ("cache_misses", "Reads the cache could not answer", lambda: cache.misses),
    ):
        gauge = Gauge(f"walrus_{kind}_{name}", doc, registry=registry)
        gauge.set_function(read)


async def run(
    kind: str,
    config: ClientConfig,
    bind_address: str,
    metrics_address: str | None,
    aggregator: AggregatorOptions | None = None,
    publisher: PublisherSetup | None = None,
) -> None:
    """Serve until terminated (the runner's graceful shutdown lets requests finish)."""
    client = WalrusClient(config)
    app = build_app(kind, client, aggregator, publisher)
    await serve(app, bind_address, metrics_address)
