"""The verbs that move blob data: store (alias write), read, blob-status, blob-id and
convert-blob-id.

Each parses as upstream's `args.rs` does, calls the SDK (imported inside the verb) and
renders the result as upstream prints it, or with `--json` as upstream's JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from pywalrus.cli.common import (
    at_most_one,
    check_readable,
    exactly_one,
    fix_mmap_threshold,
    global_options,
    json_mode,
    load_config,
    one_line,
    read_file,
    run,
    walrus_client,
)
from pywalrus.cli.output import (
    CliError,
    emit_json,
    fail,
    human_bytes,
    human_frost,
    success,
    usage,
)
from pywalrus.cli.params import (
    BLOB_ID,
    ENCODING_TYPE_OPTION,
    EPOCHS,
    RPC_URL_OPTION,
    TIME,
    WalrusCommand,
    timeout_option,
)

if TYPE_CHECKING:
    from pywalrus.client.client import WalrusClient
    from pywalrus.client.status import VerifiedStatus
    from pywalrus.core.types import BlobId


class Interrupted(CliError):
    """Ctrl-C: exit code 130, saying what was left behind."""

    exit_code = 130


OPERATION_WORDS = {
    "registerFromScratch": "(storage was purchased, and a new blob object was registered)",
    "reuseStorage": "(already-owned storage was reused, and a new blob object was registered)",
    "reuseRegistration": "(an existing registration was reused)",
}


def _event_text(event: dict[str, Any]) -> str:
    return f"(tx: {event.get('txDigest')}, seq: {event.get('eventSeq')})"


def _render_store(item: dict[str, Any]) -> None:
    result, path = item["blobStoreResult"], item["path"]
    if "newlyCreated" in result:
        created = result["newlyCreated"]
        blob = created["blobObject"]
        ((operation, details),) = created["resourceOperation"].items()
        success(f"{'Deletable' if blob['deletable'] else 'Permanent'} blob stored successfully.")
        click.echo(f"Path: {path}")
        click.echo(f"Blob ID: {blob['blobId']}")
        click.echo(f"Sui object ID: {blob['id']}")
        click.echo(f"Unencoded size: {human_bytes(blob['size'])}")
        click.echo(
            f"Encoded size (including replicated metadata): {human_bytes(details['encodedLength'])}"
        )
        click.echo(
            f"Cost (excluding gas): {human_frost(created['cost'])} "
            f"{OPERATION_WORDS.get(operation, '')}"
        )
        click.echo(f"Expiry epoch (exclusive): {blob['storage']['endEpoch']}")
        if "sharedBlobObject" in created:
            click.echo(f"Shared blob object ID: {created['sharedBlobObject']}")
        click.echo(f"Encoding type: {blob['encodingType']}\n")
    elif "alreadyCertified" in result:
        info = result["alreadyCertified"]
        success(
            "Blob was already available and certified within Walrus, "
            "for a sufficient number of epochs."
        )
        click.echo(f"Path: {path}")
        click.echo(f"Blob ID: {info['blobId']}")
        if "object" in info:
            click.echo(f"Owned Blob registration object ID: {info['object']}")
        else:
            click.echo(f"Certification event ID: {_event_text(info['event'])}")
        click.echo(f"Expiry epoch (exclusive): {info['endEpoch']}\n")
    else:
        error = result["error"]
        click.echo(
            click.style("Error:", fg="red", bold=True)
            + f" Storing blob failed during {error['failurePhase']}."
        )
        click.echo(f"Path: {path}")
        click.echo(f"Blob ID: {error['blobId'] or 'unknown'}")
        click.echo(f"Error: {error['errorMsg']}\n")


def _render_summary(items: list[dict[str, Any]]) -> None:
    created = [
        i["blobStoreResult"]["newlyCreated"]
        for i in items
        if "newlyCreated" in i["blobStoreResult"]
    ]
    title = click.style("Summary for Modified or Created Blobs", bold=True)
    if not created:
        click.echo(click.style("No blobs were modified or created", bold=True))
        return
    encoded = sum(next(iter(c["resourceOperation"].values()))["encodedLength"] for c in created)
    click.echo(f"{title} ({len(created)} newly certified)")
    click.echo(f"Total encoded size: {human_bytes(encoded)}")
    click.echo(f"Total cost: {human_frost(sum(c['cost'] for c in created))}")


def _render_dry_run(item: dict[str, Any]) -> None:
    success("Store dry-run succeeded.")
    click.echo(f"Path: {item['path']}")
    click.echo(f"Blob ID: {item['blobId']}")
    click.echo(f"Encoding type: {item['encodingType']}")
    click.echo(f"Unencoded size: {human_bytes(item['unencodedSize'])}")
    click.echo(f"Encoded size (including replicated metadata): {human_bytes(item['encodedSize'])}")
    click.echo(f"Cost to store as new blob (excluding gas): {human_frost(item['storageCost'])}\n")


def _expiry_ms(when: dt.datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


@click.command(
    "store",
    cls=WalrusCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--epochs", type=EPOCHS, help="Epochs to store for (> 0), or `max`.")
@click.option(
    "--earliest-expiry-time",
    type=TIME,
    help="The earliest time the blob may expire, RFC 3339 (e.g. 2026-12-31T15:00:00Z).",
)
@click.option("--end-epoch", type=click.IntRange(min=1), help="The end epoch (exclusive).")
@click.option("--dry-run", is_flag=True, help="Only encode and print the cost; pay nothing.")
@click.option("--force", is_flag=True, help="Store even if already certified long enough.")
@click.option("--ignore-resources", is_flag=True, help="Do not reuse owned storage or blobs.")
@click.option("--deletable", is_flag=True, hidden=True, help="Deletable (the default).")
@click.option("--permanent", is_flag=True, help="Store permanent blobs (default: deletable).")
@click.option("--share", is_flag=True, help="Put the blob into a shared object (permanent only).")
@ENCODING_TYPE_OPTION
@click.option(
    "--upload-relay",
    metavar="URL",
    help="Send the blob to this upload relay, which sends the slivers to the nodes (its tip "
    "is paid and its certificate checked before the blob is certified).",
)
@global_options
@click.pass_context
def store(
    ctx: click.Context,
    files: tuple[Path, ...],
    epochs: int | Literal["max"] | None,
    earliest_expiry_time: dt.datetime | None,
    end_epoch: int | None,
    dry_run: bool,
    force: bool,
    ignore_resources: bool,
    deletable: bool,
    permanent: bool,
    share: bool,
    upload_relay: str | None,
) -> None:
    """Store FILES as blobs (deletable by default; for 1 epoch unless told).

    Everything is checked before anything is paid: every file is readable and within the
    maximum blob size, and the lifetime is possible. Each file then gets its own result.
    """
    from pywalrus.client.client import StoreOptions

    at_most_one(
        epochs=epochs is not None,
        earliest_expiry_time=earliest_expiry_time is not None,
        end_epoch=end_epoch is not None,
    )
    at_most_one(permanent=permanent, deletable=deletable)
    if share and not permanent:
        raise usage("--share needs --permanent: deletable blobs cannot be shared")
    if upload_relay is not None and not upload_relay.startswith(("http://", "https://")):
        raise usage(f"--upload-relay {upload_relay!r} is not an http:// or https:// URL")
    sizes = [check_readable(path) for path in files]
    options = StoreOptions(
        epochs=epochs if end_epoch is None and earliest_expiry_time is None else None,
        end_epoch=end_epoch,
        earliest_expiry_ms=_expiry_ms(earliest_expiry_time),
        deletable=not permanent,
        force=force or dry_run,
        dry_run=dry_run,
        share=share,
        upload_relay=upload_relay,
    )
    config = load_config(ctx)
    client: list[WalrusClient] = []
    phase = ["starting"]
    """The stage the store is in (progress stages), for what an interruption leaves behind."""

    async def go() -> list[dict[str, Any]]:
        from pywalrus.cli.progress import progress_bars

        with progress_bars(not json_mode(ctx)) as progress:
            async with walrus_client(ctx, config, progress) as sdk:
                client.append(sdk)
                if ignore_resources:
                    sdk.reuse_resources = False
                plan = await sdk.plan_store(options)
                for path, size in zip(files, sizes, strict=True):
                    if size > plan.max_blob_size:
                        raise fail(
                            f"file '{path}' has {size:,} bytes, more than the maximum blob "
                            f"size of {plan.max_blob_size:,} bytes; nothing was stored"
                        )
                return [await _store_one(sdk, path, options, phase) for path in files]

    try:
        results = run(go)
    except KeyboardInterrupt:
        pending = client[0].unfinished if client else None
        if pending is not None:
            left = pending.describe()
        elif phase[0] == "registering":
            left = (
                "the registration was under way and may have executed; storing the same data "
                "again with the same options reuses it if it did"
            )
        else:
            left = "nothing was registered for the blob being stored"
        raise Interrupted(f"interrupted: {left}") from None
    if json_mode(ctx):
        emit_json(results)
    elif dry_run:
        for item in results:
            _render_dry_run(item)
    else:
        for item in results:
            _render_store(item)
        _render_summary(results)
    failed = [r for r in results if "error" in r.get("blobStoreResult", {})]
    if failed:
        first = failed[0]
        raise fail(
            f"{len(failed)} of {len(results)} files could not be stored; {first['path']}: "
            f"{first['blobStoreResult']['error']['errorMsg']}"
        )


async def _store_one(
    client: WalrusClient, path: Path, options: Any, phase: list[str]
) -> dict[str, Any]:
    """One file's own result: stored, already certified, a dry run, or its error; `phase[0]`
    follows the stage it is in."""
    from pywalrus.cli.common import GAS_HINT
    from pywalrus.core.errors import InsufficientGas, WalrusError

    phase[0] = "reading"
    previous = client.progress

    def track(stage: str, done: int, total: int) -> None:
        phase[0] = stage
        previous(stage, done, total)

    client.progress = track
    try:
        result = await client.store(read_file(path), options)
    except (WalrusError, click.ClickException) as exc:
        pending = client.unfinished
        message = one_line(
            exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        )
        if isinstance(exc, InsufficientGas):
            message += f"; {GAS_HINT}"
        return {
            "path": str(path),
            "blobStoreResult": {
                "error": {
                    "blobId": pending.blob_id if pending else None,
                    "failurePhase": phase[0],
                    "errorMsg": message,
                }
            },
        }
    finally:
        client.progress = previous
    if "dryRun" in result:
        return {"path": str(path), **result["dryRun"]}
    return {"path": str(path), "blobStoreResult": result}


@click.command("read", cls=WalrusCommand, hyphen_positionals=True)
@click.argument("blob_id", type=BLOB_ID)
@click.option("--out", type=click.Path(path_type=Path), help="Write the blob here (not stdout).")
@RPC_URL_OPTION
@click.option("--strict-consistency-check", is_flag=True, help="Re-encode the blob to check it.")
@click.option("--skip-consistency-check", is_flag=True, help="Skip the consistency check.")
@global_options
@click.pass_context
def read(
    ctx: click.Context,
    blob_id: BlobId,
    out: Path | None,
    strict_consistency_check: bool,
    skip_consistency_check: bool,
) -> None:
    """Read a blob from Walrus, given its blob ID, to --out FILE or stdout."""
    from pywalrus.core.decoding import ConsistencyCheck

    at_most_one(
        strict_consistency_check=strict_consistency_check,
        skip_consistency_check=skip_consistency_check,
    )
    check = (
        ConsistencyCheck.STRICT
        if strict_consistency_check
        else ConsistencyCheck.SKIP
        if skip_consistency_check
        else ConsistencyCheck.DEFAULT
    )
    if out is not None:
        _check_destination(out)
    config = load_config(ctx)
    fix_mmap_threshold()
    # Progress on stderr when it is a terminal (the bars are gone before the blob is written,
    # so they do not mix with a blob going to stdout on the same terminal).
    bars = not json_mode(ctx)

    async def go() -> bytes:
        from pywalrus.cli.progress import progress_bars

        with progress_bars(bars) as progress:
            async with walrus_client(ctx, config, progress) as client:
                return await client.read(blob_id, check)

    data = run(go)
    if out is not None:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise fail(f"cannot write '{out}': {exc.strerror}") from None
    if json_mode(ctx):
        body: dict[str, Any] = {"blobId": str(blob_id)}
        if out is None:
            body["blob"] = base64.b64encode(data).decode()
        else:
            body = {"out": str(out), **body}
        emit_json(body)
    elif out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        success(f"Blob {blob_id} reconstructed from Walrus and written to {out}.")


def _check_destination(out: Path) -> None:
    """Fail before fetching anything if the blob could not be written to `out`."""
    if out.is_dir():
        raise fail(f"cannot write '{out}': it is a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise fail(f"cannot write '{out}': directory '{parent}' does not exist")
    if out.exists() and not os.access(out, os.W_OK):
        raise fail(f"cannot write '{out}': permission denied")
    if not out.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise fail(f"cannot write '{out}': directory '{parent}' is not writable")


@click.command("blob-status", cls=WalrusCommand)
@click.option("--file", "file_", type=click.Path(path_type=Path), help="The file of the blob.")
@click.option("--blob-id", type=BLOB_ID, help="The blob ID.")
@timeout_option("1s", "each node's status request")
@ENCODING_TYPE_OPTION
@RPC_URL_OPTION
@global_options
@click.pass_context
def blob_status(
    ctx: click.Context,
    file_: Path | None,
    blob_id: BlobId | None,
    timeout: float,
) -> None:
    """Get the status of a blob, as nodes holding more than a third of the shards (or the
    chain event they name) confirm it; fail if that cannot be learned."""
    exactly_one(file=file_ is not None, blob_id=blob_id is not None)
    data = read_file(file_) if file_ is not None else None
    config = load_config(ctx)

    async def go() -> tuple[BlobId, VerifiedStatus, dict[str, Any]]:
        from pywalrus.core.encoding import compute_metadata

        async with walrus_client(ctx, config) as client:
            target = blob_id
            if data is not None:
                committee = await client.committee()
                target = compute_metadata(data, committee.encoding).blob_id()
            assert target is not None
            verified = await client.verified_blob_status(target, timeout)
            from pywalrus.chain.schema import STAKING

            staking = (await client.chain.singleton(STAKING)).fields
            return target, verified, staking

    target, verified, staking = run(go)
    status = verified.status
    expiry = _estimated_expiry(status, staking)
    if json_mode(ctx):
        body: dict[str, Any] = {"blobId": str(target)}
        if file_ is not None:
            body["file"] = str(file_)
        body["status"] = status
        if expiry is not None:
            body["estimatedExpiryTimestamp"] = expiry
        emit_json(body)
        return
    _render_status(
        f"{target} (file: {file_})" if file_ is not None else str(target), status, expiry
    )
    if verified.answers.slow:
        click.echo(f"(no answer in time from {', '.join(verified.answers.slow)})", err=True)


def _estimated_expiry(status: Any, staking: dict[str, Any]) -> str | None:
    """When a permanent blob's end epoch is estimated to begin (upstream's estimate)."""
    if not isinstance(status, dict) or "permanent" not in status:
        return None
    state = staking["epoch_state"]
    start = state.get("at_ms") if state["kind"] != "EpochChangeSync" else None
    if start is None:
        start = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    ahead = status["permanent"]["endEpoch"] - staking["epoch"]
    if ahead <= 0:
        return None
    when = start + ahead * staking["epoch_duration_ms"]
    return dt.datetime.fromtimestamp(when / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def _render_status(blob: str, status: Any, expiry: str | None) -> None:
    if status == "nonexistent":
        click.echo(f"Blob ID {blob} is not stored on Walrus.")
        return
    ((kind, body),) = status.items()
    counts = body.get("deletableCounts") or {}
    certified = counts.get("count_deletable_certified", 0)
    initial = body.get("initialCertifiedEpoch")
    if kind == "invalid":
        click.echo(f"Blob ID {blob} is invalid.")
    elif kind == "deletable":
        since = f", initially certified in epoch {initial}" if initial is not None else ""
        click.echo(
            f"Blob ID {blob} is registered on Walrus, but only in one or more deletable Blob "
            f"objects:\nTotal number of certified objects: {certified} (of "
            f"{counts.get('count_deletable_total', 0)} registered{since})"
        )
    else:
        state = "certified" if body["isCertified"] else "registered"
        click.echo(
            f"There is a {click.style(state, bold=True)} permanent Blob object for blob ID {blob}."
        )
        click.echo(f"Expiry epoch: {body['endEpoch']}")
        if expiry is not None:
            click.echo(f"Estimated expiry timestamp: {expiry}")
        click.echo(f"Related event: {_event_text(body.get('statusEvent') or {})}")
        if initial is not None:
            click.echo(f"Initially certified in epoch: {initial}")
        if certified == 1:
            click.echo("There is also 1 certified deletable Blob object for this blob ID.")
        elif certified > 1:
            click.echo(
                f"There are also {certified} certified deletable Blob objects for this blob ID."
            )


@click.command("blob-id")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--n-shards",
    type=int,
    help="Number of shards to encode for (default: the network's, read from the chain).",
)
@ENCODING_TYPE_OPTION
@RPC_URL_OPTION
@global_options
@click.pass_context
def blob_id_command(
    ctx: click.Context,
    file: Path,
    n_shards: int | None,
) -> None:
    """Encode FILE to compute its blob ID (offline when --n-shards is given)."""
    from pywalrus.core.config import EncodingConfig
    from pywalrus.core.encoding import compute_metadata
    from pywalrus.core.errors import WalrusError

    check_readable(file)
    if n_shards is None:
        n_shards = _n_shards_from_chain(ctx)
    try:
        config = EncodingConfig(n_shards)
        data = read_file(file, config.max_blob_size)
        metadata = compute_metadata(data, config)
    except WalrusError as exc:
        raise fail(one_line(str(exc))) from None
    blob_id = metadata.blob_id()
    if json_mode(ctx):
        emit_json(
            {
                "blobId": str(blob_id),
                "file": str(file),
                "unencodedLength": metadata.unencoded_length,
                "encodingType": metadata.encoding_type.name,
                "rootHash": metadata.root_hash().hex(),
                "encodedLength": config.encoded_length(len(data)),
                "symbolSize": config.symbol_size(len(data)),
                "nShards": n_shards,
            }
        )
        return
    success(f"Blob from file '{file}' encoded successfully.")
    click.echo(f"Unencoded size: {metadata.unencoded_length}")
    click.echo(f"Blob ID: {blob_id}")
    click.echo(f"Encoding type: {metadata.encoding_type.name}")


def _n_shards_from_chain(ctx: click.Context) -> int:
    from pywalrus.chain.schema import SYSTEM
    from pywalrus.cli.common import chain_client

    config = load_config(ctx)

    async def go() -> int:
        async with chain_client(ctx, config) as chain:
            return int((await chain.singleton(SYSTEM)).fields["n_shards"])

    return run(go)


@click.command("convert-blob-id", cls=WalrusCommand, hyphen_positionals=True)
@click.argument("blob_id_decimal")
@global_options
@click.pass_context
def convert_blob_id(ctx: click.Context, blob_id_decimal: str) -> None:
    """Convert a decimal value (as a Sui explorer shows a blob ID) to the Walrus blob ID."""
    from pywalrus.cli.params import decimal_blob_id

    converted = decimal_blob_id(blob_id_decimal.strip())
    if converted is None:
        from pywalrus.core.errors import InvalidBlobIdError
        from pywalrus.core.types import BlobId

        try:
            as_base64 = BlobId.parse(blob_id_decimal.strip())
        except InvalidBlobIdError:
            raise fail("the provided value cannot be converted to a Walrus blob ID") from None
        raise fail(
            "the provided value is already a valid Walrus blob ID; the value represented "
            f"as a decimal number is {as_base64.as_u256}"
        )
    if json_mode(ctx):
        emit_json(str(converted))
    else:
        click.echo(f"Walrus blob ID: {converted}")


COMMANDS = (store, read, blob_status, blob_id_command, convert_blob_id)
