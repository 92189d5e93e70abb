"""The HTTP service verbs, as upstream names them: `walrus aggregator`, `walrus publisher`
and `walrus daemon` (both), each a long-running process until SIGTERM or SIGINT.

Every verb takes the client configuration (`--config`, global), `--bind-address` and
`--metrics-address` (Prometheus `/metrics`; `none` for no metrics server); the aggregator's
limits and cache are flags (`aggregator_flags`), the publisher's too (`publisher_flags`,
handed as they are to `pywalrus.services.publisher`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pywalrus.cli.common import global_options, load_config
from pywalrus.cli.output import fail, warning

if TYPE_CHECKING:
    from pywalrus.services.aggregator import AggregatorOptions
    from pywalrus.services.daemon import PublisherSetup

F = TypeVar("F", bound=Callable[..., Any])


def _address(ctx: click.Context, param: click.Parameter, value: str) -> str | None:
    from pywalrus.services.http import parse_address

    if value == "none" and param.name == "metrics_address":
        return None
    try:
        parse_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _service_flags(func: F) -> F:
    options = [
        click.option(
            "--bind-address",
            default="127.0.0.1:31415",
            show_default=True,
            callback=_address,
            help="host:port to serve HTTP on.",
        ),
        click.option(
            "-a",
            "--metrics-address",
            default="127.0.0.1:27182",
            show_default=True,
            callback=_address,
            help="host:port of the Prometheus /metrics server ('none': no metrics server).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return global_options(func)


def aggregator_flags(func: F) -> F:
    """The aggregator's limits and cache (upstream's names where upstream has the flag)."""
    size = click.IntRange(min=0)
    options = [
        click.option(
            "--cache-size",
            type=size,
            default=64 * 1024 * 1024,
            show_default=True,
            help="Bytes of small blobs kept in memory (0: no cache).",
        ),
        click.option(
            "--cache-max-blob-size",
            type=size,
            default=1024 * 1024,
            show_default=True,
            help="Largest blob the cache keeps (bytes).",
        ),
        click.option(
            "--cache-ttl",
            type=click.FloatRange(min=0),
            default=60.0,
            show_default=True,
            help="Seconds a cached blob or its metadata is served without asking the nodes.",
        ),
        click.option(
            "--max-age",
            type=size,
            default=86400,
            show_default=True,
            help="Cache-Control max-age of blob responses (seconds).",
        ),
        click.option(
            "--max-blob-size", type=size, default=None, help="Refuse larger blobs with 403."
        ),
        click.option(
            "--allowed-headers",
            multiple=True,
            help="Blob attributes returned as response headers by /v1/blobs/by-object-id "
            "(repeat; default: upstream's list, content-type etc.).",
        ),
        click.option(
            "--aggregator-max-concurrent-requests",
            type=click.IntRange(min=1),
            default=256,
            show_default=True,
            help="Reads served at once.",
        ),
        click.option(
            "--aggregator-max-buffer-size",
            type=click.IntRange(min=1),
            default=320,
            show_default=True,
            help="Reads in the service at once, waiting ones included; more are answered 429.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _aggregator_options(params: dict[str, Any]) -> AggregatorOptions:
    from pywalrus.services.aggregator import ALLOWED_HEADERS, AggregatorOptions

    return AggregatorOptions(
        cache_size=params["cache_size"],
        cache_max_blob_size=params["cache_max_blob_size"],
        cache_ttl_s=params["cache_ttl"],
        max_age_s=params["max_age"],
        max_blob_size=params["max_blob_size"],
        allowed_headers=tuple(params["allowed_headers"]) or ALLOWED_HEADERS,
        max_concurrent_requests=params["aggregator_max_concurrent_requests"],
        max_buffered_requests=params["aggregator_max_buffer_size"],
    )


def publisher_flags(func: F) -> F:
    """The publisher's flags (issue 11's publisher half adds them here); their values reach
    `pywalrus.services.publisher.setup` as keyword arguments."""
    return func


AGGREGATOR_PARAMS = (
    "cache_size",
    "cache_max_blob_size",
    "cache_ttl",
    "max_age",
    "max_blob_size",
    "allowed_headers",
    "aggregator_max_concurrent_requests",
    "aggregator_max_buffer_size",
)


def _publisher(params: dict[str, Any], required: bool) -> PublisherSetup | None:
    """How the publisher joins an app, from `pywalrus.services.publisher`. Without that
    module (a build from before the publisher), `walrus publisher` fails and the daemon
    serves the aggregator alone, saying so."""
    import importlib

    try:
        publisher = importlib.import_module("pywalrus.services.publisher")
    except ModuleNotFoundError:
        if required:
            raise fail("this build of pywalrus has no publisher (services/publisher.py)") from None
        warning("this build of pywalrus has no publisher: the daemon serves the aggregator only")
        return None
    setup: PublisherSetup = publisher.setup(**params)
    return setup


def _serve(
    ctx: click.Context,
    kind: str,
    params: dict[str, Any],
    aggregator: bool,
    publisher: bool,
) -> None:
    from pywalrus.runtime import run_service
    from pywalrus.services import daemon

    config = load_config(ctx)
    bind, metrics = params.pop("bind_address"), params.pop("metrics_address")
    aggregator_params = {k: params.pop(k) for k in AGGREGATOR_PARAMS if k in params}
    options = _aggregator_options(aggregator_params) if aggregator else None
    setup = _publisher(params, required=not aggregator) if publisher else None
    try:
        run_service(daemon.run(kind, config, bind, metrics, options, setup))
    except OSError as exc:
        raise fail(f"cannot serve on {bind}: {exc.strerror or exc}") from None


@click.command("aggregator")
@_service_flags
@aggregator_flags
@click.pass_context
def aggregator(ctx: click.Context, /, **params: Any) -> None:
    """Serve blobs over HTTP (upstream's aggregator API) until interrupted."""
    _serve(ctx, "aggregator", params, aggregator=True, publisher=False)


@click.command("publisher")
@_service_flags
@publisher_flags
@click.pass_context
def publisher(ctx: click.Context, /, **params: Any) -> None:
    """Store blobs sent over HTTP PUT (upstream's publisher API) until interrupted."""
    _serve(ctx, "publisher", params, aggregator=False, publisher=True)


@click.command("daemon")
@_service_flags
@aggregator_flags
@publisher_flags
@click.pass_context
def daemon(ctx: click.Context, /, **params: Any) -> None:
    """Run an aggregator and a publisher on one address until interrupted."""
    _serve(ctx, "daemon", params, aggregator=True, publisher=True)


def _relay_config(params: dict[str, Any]) -> Any:
    """The relay configuration: `--relay-config` (upstream's YAML), then the flags."""
    import dataclasses
    from pathlib import Path

    from pywalrus.core.errors import ConfigError
    from pywalrus.core.upload_relay import ConstTip, LinearTip, SendTip, TipKind
    from pywalrus.services.upload_relay import RelayConfig, load_relay_config

    path = params["relay_config"]
    try:
        config = load_relay_config(Path(path)) if path is not None else RelayConfig()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    const, base, per_kib = params["tip_const"], params["tip_base"], params["tip_per_kib"]
    address = params["tip_address"]
    if const is not None and (base is not None or per_kib is not None):
        raise fail("--tip-const and --tip-base/--tip-per-kib are two kinds of tip: give one")
    kind: TipKind | None = None
    if const is not None:
        kind = ConstTip(const)
    elif base is not None or per_kib is not None:
        kind = LinearTip(base or 0, per_kib or 0)
    if params["no_tip"]:
        if kind is not None or address is not None:
            raise fail("--no-tip takes no tip address or amount")
        config = dataclasses.replace(config, tip_config=None)
    elif kind is not None or address is not None:
        current = config.tip_config
        address = address or (current.address if current else None)
        kind = kind or (current.kind if current else None)
        if address is None or kind is None:
            raise fail("a tip needs --tip-address and --tip-const or --tip-base/--tip-per-kib")
        try:
            config = dataclasses.replace(config, tip_config=SendTip(address, kind))
        except ValueError as exc:
            raise fail(f"--tip-address: {exc}") from None
    for flag, key in (
        ("tx_freshness_threshold_secs", "tx_freshness_threshold_s"),
        ("tx_max_future_threshold_secs", "tx_max_future_threshold_s"),
        ("max_body_size", "max_body_size"),
    ):
        if params[flag] is not None:
            config = dataclasses.replace(config, **{key: params[flag]})
    if params["used_tips_file"] is not None:
        config = dataclasses.replace(config, used_tips_file=Path(params["used_tips_file"]))
    return config


@click.command("upload-relay")
@click.option(
    "--bind-address",
    "--server-address",
    default="0.0.0.0:57391",
    show_default=True,
    callback=_address,
    help="host:port to serve HTTP on (upstream's --server-address).",
)
@click.option(
    "-a",
    "--metrics-address",
    default="127.0.0.1:9184",
    show_default=True,
    callback=_address,
    help="host:port of the Prometheus /metrics server ('none': no metrics server).",
)
@click.option(
    "--relay-config",
    type=click.Path(dir_okay=False),
    help="Upstream's relay configuration (YAML: tip_config, tx_freshness_threshold_secs, "
    "tx_max_future_threshold); the flags below override it.",
)
@click.option("--no-tip", is_flag=True, help="Relay for free (the default).")
@click.option("--tip-address", help="Address the tips are paid to (gas, in MIST).")
@click.option("--tip-const", type=click.IntRange(0, 2**64 - 1), help="A constant tip (MIST).")
@click.option("--tip-base", type=click.IntRange(0, 2**64 - 1), help="Linear tip: the base.")
@click.option(
    "--tip-per-kib",
    type=click.IntRange(0, 2**64 - 1),
    help="Linear tip: MIST per KiB of encoded size (rounded up).",
)
@click.option(
    "--tx-freshness-threshold-secs",
    type=click.FloatRange(min=0),
    help="Oldest (chain time) a tip transaction may be [default: 3600].",
)
@click.option(
    "--tx-max-future-threshold-secs",
    type=click.FloatRange(min=0),
    help="How far ahead of the chain a tip transaction may be [default: 30].",
)
@click.option(
    "--max-body-size",
    type=click.IntRange(min=0),
    help="Largest blob accepted, bytes (413 beyond) [default: 1 GiB, as upstream].",
)
@click.option(
    "--used-tips-file",
    type=click.Path(dir_okay=False),
    help="Keep the tip transactions that paid for an upload in this file, so that a "
    "restarted relay refuses them too (default: in memory).",
)
@global_options
@click.pass_context
def upload_relay(ctx: click.Context, /, **params: Any) -> None:
    """Relay registered blobs to the storage nodes (upstream's walrus-upload-relay): POST the
    blob, get the confirmation certificate back; until interrupted."""
    from pywalrus.core.errors import ConfigError
    from pywalrus.runtime import run_service
    from pywalrus.services import upload_relay as relay

    client_config = load_config(ctx)
    config = _relay_config(params)
    bind = params["bind_address"]
    try:
        run_service(relay.run(client_config, config, bind, params["metrics_address"]))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot serve on {bind}: {exc.strerror or exc}") from None


COMMANDS = (aggregator, publisher, daemon, upload_relay)
