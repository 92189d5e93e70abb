"""The blob verbs of `walrus`: store, read, blob-status, list-blobs, delete, extend, share,
fund-shared-blob, burn-blobs, blob attributes and health.

Each verb parses, calls the SDK (`pywalrus.client.client`) and renders the result as text or,
with `--json`, as the JSON upstream Walrus prints.
"""

from __future__ import annotations

import base64
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from pywalrus.cli.common import global_options, json_mode, load_config, read_file, run
from pywalrus.cli.output import emit_json, fail, success
from pywalrus.cli.progress import progress_bars
from pywalrus.client.client import StoreOptions, WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.core.decoding import ConsistencyCheck
from pywalrus.core.types import BlobId, InvalidBlobIdError

FROST_PER_WAL = 10**9


def _client(config: ClientConfig, progress: Any = None) -> WalrusClient:
    return WalrusClient(config, progress=progress)


def _blob_id(text: str) -> BlobId:
    try:
        return BlobId.parse(text)
    except InvalidBlobIdError as exc:
        raise fail(str(exc)) from None


def _wal(frost: int) -> str:
    return f"{frost / FROST_PER_WAL:.9f}".rstrip("0").rstrip(".") + " WAL"


def _parse_time(text: str) -> int:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"invalid time {text!r}: expected RFC 3339, e.g. 2026-12-31T00:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _render_store(path: Path, result: dict[str, Any]) -> None:
    if "newlyCreated" in result:
        created = result["newlyCreated"]
        blob = created["blobObject"]
        kind = "Deletable" if blob["deletable"] else "Permanent"
        ((operation, details),) = created["resourceOperation"].items()
        success(f"{kind} blob stored successfully.")
        click.echo(f"Path: {path}")
        click.echo(f"Blob ID: {blob['blobId']}")
        click.echo(f"Sui object ID: {blob['id']}")
        click.echo(f"Unencoded size: {blob['size']}")
        click.echo(f"Encoded size (including replicated metadata): {details['encodedLength']}")
        click.echo(f"Cost (excluding gas): {_wal(created['cost'])} ({operation})")
        click.echo(f"Expiry epoch (exclusive): {blob['storage']['endEpoch']}")
        if "sharedBlobObject" in created:
            click.echo(f"Shared blob object ID: {created['sharedBlobObject']}")
    elif "alreadyCertified" in result:
        info = result["alreadyCertified"]
        success(
            "Blob was already available and certified within Walrus, "
            "for a sufficient number of epochs."
        )
        click.echo(f"Path: {path}")
        click.echo(f"Blob ID: {info['blobId']}")
        click.echo(f"Expiry epoch (exclusive): {info['endEpoch']}")
    elif "dryRun" in result:
        info = result["dryRun"]
        success("Store dry-run succeeded.")
        click.echo(f"Path: {path}")
        click.echo(f"Blob ID: {info['blobId']}")
        click.echo(f"Unencoded size: {info['unencodedSize']}")
        click.echo(f"Encoded size (including replicated metadata): {info['encodedSize']}")
        click.echo(f"Cost to store as new blob (excluding gas): {_wal(info['storageCost'])}")


@click.command("store")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs ahead to store the blob for.")
@click.option("--end-epoch", type=click.IntRange(min=1), help="Exclusive end epoch.")
@click.option("--earliest-expiry-time", help="Earliest expiry, RFC 3339.")
@click.option("--permanent", is_flag=True, help="Store a permanent blob (default: deletable).")
@click.option("--deletable", is_flag=True, hidden=True, help="Store a deletable blob (default).")
@click.option("--force", is_flag=True, help="Store even if already certified long enough.")
@click.option("--dry-run", is_flag=True, help="Only encode and print the cost.")
@click.option("--share", is_flag=True, help="Wrap the blob into a shared blob (needs --permanent).")
@global_options
@click.pass_context
def store(
    ctx: click.Context,
    files: tuple[Path, ...],
    epochs: int | None,
    end_epoch: int | None,
    earliest_expiry_time: str | None,
    permanent: bool,
    deletable: bool,
    force: bool,
    dry_run: bool,
    share: bool,
) -> None:
    """Store FILES on Walrus."""
    chosen = [x is not None for x in (epochs, end_epoch, earliest_expiry_time)]
    if sum(chosen) > 1:
        raise fail("give only one of --epochs, --end-epoch and --earliest-expiry-time")
    if permanent and deletable:
        raise fail("--permanent and --deletable exclude each other")
    if share and not permanent:
        raise fail("--share needs --permanent: only permanent blobs can be shared")
    options = StoreOptions(
        epochs=epochs if any(chosen) else 1,
        end_epoch=end_epoch,
        earliest_expiry_ms=_parse_time(earliest_expiry_time) if earliest_expiry_time else None,
        deletable=not permanent,
        force=force,
        dry_run=dry_run,
        share=share,
    )
    contents = [(path, read_file(path)) for path in files]
    config = load_config(ctx)

    async def go() -> list[dict[str, Any]]:
        out = []
        with progress_bars(not json_mode(ctx)) as progress:
            async with _client(config, progress) as client:
                for path, data in contents:
                    out.append(
                        {"path": str(path), "blobStoreResult": await client.store(data, options)}
                    )
        return out

    results = run(go)
    if json_mode(ctx):
        emit_json(results)
        return
    for item in results:
        _render_store(Path(item["path"]), item["blobStoreResult"])


@click.command("read")
@click.argument("blob_id")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the blob here.")
@click.option("--strict-consistency-check", is_flag=True, help="Re-encode the blob to check it.")
@click.option("--skip-consistency-check", is_flag=True, help="Skip the consistency check.")
@global_options
@click.pass_context
def read(
    ctx: click.Context,
    blob_id: str,
    out: Path | None,
    strict_consistency_check: bool,
    skip_consistency_check: bool,
) -> None:
    """Read BLOB_ID, to --out FILE or stdout."""
    if strict_consistency_check and skip_consistency_check:
        raise fail("--strict-consistency-check and --skip-consistency-check exclude each other")
    check = (
        ConsistencyCheck.STRICT
        if strict_consistency_check
        else ConsistencyCheck.SKIP
        if skip_consistency_check
        else ConsistencyCheck.DEFAULT
    )
    parsed = _blob_id(blob_id)
    config = load_config(ctx)

    async def go() -> bytes:
        with progress_bars(not json_mode(ctx) and out is not None) as progress:
            async with _client(config, progress) as client:
                return await client.read(parsed, check)

    data = run(go)
    if out is not None:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise fail(f"cannot write '{out}': {exc.strerror}") from None
    if json_mode(ctx):
        body: dict[str, Any] = {"blobId": str(parsed)}
        if out is None:
            body["blob"] = base64.b64encode(data).decode()
        else:
            body["out"] = str(out)
        emit_json(body)
    elif out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        success(f"Blob {parsed} reconstructed from Walrus and written to {out}.")


@click.command("blob-status")
@click.option("--blob-id", help="The blob ID.")
@click.option(
    "--file", "file_", type=click.Path(path_type=Path), help="Compute the blob ID of FILE."
)
@global_options
@click.pass_context
def blob_status(ctx: click.Context, blob_id: str | None, file_: Path | None) -> None:
    """The status of a blob, as a third of the shards report it."""
    if (blob_id is None) == (file_ is None):
        raise fail("give exactly one of --blob-id and --file")
    config = load_config(ctx)

    async def go() -> tuple[BlobId, Any]:
        async with _client(config) as client:
            if file_ is not None:
                from pywalrus.core.encoding import compute_metadata

                committee = await client.committee()
                parsed = compute_metadata(read_file(file_), committee.encoding).blob_id()
            else:
                assert blob_id is not None
                parsed = _blob_id(blob_id)
            return parsed, await client.blob_status(parsed)

    parsed, status = run(go)
    if json_mode(ctx):
        emit_json({"blobId": str(parsed), "status": status})
        return
    if status == "nonexistent":
        click.echo(f"Blob ID {parsed} is not stored on Walrus.")
    elif "invalid" in status:
        click.echo(f"Blob ID {parsed} is invalid.")
    elif "permanent" in status:
        body = status["permanent"]
        state = "certified" if body["isCertified"] else "registered"
        click.echo(
            f"Blob ID {parsed} is stored as a permanent blob ({state}), "
            f"expiring at the start of epoch {body['endEpoch']}."
        )
    else:
        counts = status["deletable"]["deletableCounts"]
        click.echo(
            f"Blob ID {parsed} is registered as {counts['count_deletable_total']} "
            "deletable blob(s), "
            f"{counts['count_deletable_certified']} certified."
        )


@click.command("list-blobs")
@click.option("--include-expired", is_flag=True)
@global_options
@click.pass_context
def list_blobs(ctx: click.Context, include_expired: bool) -> None:
    """The blob objects the wallet owns."""
    config = load_config(ctx)

    async def go() -> list[dict[str, Any]]:
        async with _client(config) as client:
            return await client.blobs().list_blobs(include_expired)

    blobs = run(go)
    if json_mode(ctx):
        emit_json(blobs)
        return
    if not blobs:
        click.echo("No blobs found.")
    for blob in blobs:
        state = "certified" if blob["certifiedEpoch"] is not None else "registered"
        kind = "deletable" if blob["deletable"] else "permanent"
        click.echo(
            f"{blob['blobId']}  {blob['size']:>12} B  {kind:9} {state:10} "
            f"end epoch {blob['storage']['endEpoch']}  {blob['id']}"
        )


@click.command("delete")
@click.option(
    "--blob-id", "blob_ids", multiple=True, help="Delete every owned object of this blob."
)
@click.option("--object-id", "object_ids", multiple=True, help="Delete this blob object.")
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def delete(
    ctx: click.Context,
    blob_ids: tuple[str, ...],
    object_ids: tuple[str, ...],
    files: tuple[Path, ...],
    yes: bool,
) -> None:
    """Delete deletable blobs the wallet owns."""
    if not (blob_ids or object_ids or files):
        raise fail("give --blob-id, --object-id or --file")
    parsed = [_blob_id(b) for b in blob_ids]
    datas = [read_file(f) for f in files]
    config = load_config(ctx)
    if not yes and not json_mode(ctx) and sys.stdin.isatty():
        click.confirm("Delete these blobs?", abort=True)

    async def go() -> list[dict[str, Any]]:
        async with _client(config) as client:
            ops = client.blobs()
            targets = list(object_ids)
            if datas:
                from pywalrus.core.encoding import compute_metadata

                encoding = (await client.committee()).encoding
                parsed.extend(compute_metadata(d, encoding).blob_id() for d in datas)
            for blob_id in parsed:
                found = [o for o in await ops.objects_for(blob_id) if o.fields["deletable"]]
                if not found:
                    from pywalrus.client.errors import BlobNotFound

                    raise BlobNotFound(f"the wallet owns no deletable object of blob {blob_id}")
                targets.extend(o.id for o in found)
            return [await ops.delete(t) for t in targets]

    deleted = run(go)
    if json_mode(ctx):
        emit_json(deleted)
    else:
        for item in deleted:
            success(f"Deleted blob object {item['objectId']}.")


@click.command("extend")
@click.option("--blob-obj-id", required=True)
@click.option("--epochs-extended", type=click.IntRange(min=1), required=True)
@click.option("--shared", is_flag=True, help="The object is a shared blob, paid from its funds.")
@global_options
@click.pass_context
def extend(ctx: click.Context, blob_obj_id: str, epochs_extended: int, shared: bool) -> None:
    """Extend a certified blob's lifetime."""
    config = load_config(ctx)

    async def go() -> dict[str, Any]:
        async with _client(config) as client:
            return await client.blobs().extend(blob_obj_id, epochs_extended, shared)

    result = run(go)
    if json_mode(ctx):
        emit_json(result)
    else:
        success(
            f"Blob object {blob_obj_id} extended by {epochs_extended} epochs "
            f"({_wal(result['cost'])})."
        )


@click.command("share")
@click.option("--blob-obj-id", required=True)
@click.option("--amount", type=click.IntRange(min=0), default=0, help="FROST to fund it with.")
@global_options
@click.pass_context
def share(ctx: click.Context, blob_obj_id: str, amount: int) -> None:
    """Turn a permanent blob into a shared blob anyone can fund and extend."""
    config = load_config(ctx)

    async def go() -> dict[str, Any]:
        async with _client(config) as client:
            return await client.blobs().share(blob_obj_id, amount)

    result = run(go)
    if json_mode(ctx):
        emit_json(result)
    else:
        success(f"Shared blob object: {result['sharedBlobObject']}")


@click.command("fund-shared-blob")
@click.option("--shared-blob-obj-id", required=True)
@click.option("--amount", type=click.IntRange(min=1), required=True, help="FROST to add.")
@global_options
@click.pass_context
def fund_shared_blob(ctx: click.Context, shared_blob_obj_id: str, amount: int) -> None:
    """Add WAL to a shared blob's funds."""
    config = load_config(ctx)

    async def go() -> dict[str, Any]:
        async with _client(config) as client:
            return await client.blobs().fund_shared(shared_blob_obj_id, amount)

    result = run(go)
    if json_mode(ctx):
        emit_json(result)
    else:
        success(f"Funded shared blob {shared_blob_obj_id} with {_wal(amount)}.")


@click.command("burn-blobs")
@click.option("--object-ids", "object_ids", multiple=True)
@click.option("--all", "all_", is_flag=True, help="Burn every blob object the wallet owns.")
@click.option("--all-expired", is_flag=True, help="Burn every expired blob object.")
@global_options
@click.pass_context
def burn_blobs(
    ctx: click.Context, object_ids: tuple[str, ...], all_: bool, all_expired: bool
) -> None:
    """Destroy blob objects (the data stays until it expires)."""
    if sum([bool(object_ids), all_, all_expired]) != 1:
        raise fail("give exactly one of --object-ids, --all and --all-expired")
    config = load_config(ctx)

    async def go() -> dict[str, Any]:
        async with _client(config) as client:
            ops = client.blobs()
            targets = list(object_ids)
            if all_ or all_expired:
                everything = await ops.list_blobs(include_expired=True)
                live = {b["id"] for b in await ops.list_blobs()}
                targets = [b["id"] for b in everything if all_ or b["id"] not in live]
            return await ops.burn(targets)

    result = run(go)
    if json_mode(ctx):
        emit_json(result)
    else:
        success(f"Burned {len(result['burned'])} blob object(s).")


@click.command("get-blob-attribute")
@click.argument("blob_obj_id")
@global_options
@click.pass_context
def get_blob_attribute(ctx: click.Context, blob_obj_id: str) -> None:
    """Print a blob object's attributes."""
    config = load_config(ctx)

    async def go() -> dict[str, str]:
        async with _client(config) as client:
            return await client.blobs().attributes(blob_obj_id)

    attributes = run(go)
    if json_mode(ctx):
        emit_json({"attribute": attributes})
    elif not attributes:
        click.echo("No attribute found.")
    else:
        for key, value in attributes.items():
            click.echo(f"{key}: {value}")


@click.command("set-blob-attribute")
@click.argument("blob_obj_id")
@click.option("--attr", "attrs", nargs=2, multiple=True, required=True, metavar="KEY VALUE")
@global_options
@click.pass_context
def set_blob_attribute(
    ctx: click.Context, blob_obj_id: str, attrs: tuple[tuple[str, str], ...]
) -> None:
    """Set attributes (key-value pairs) of a blob object."""
    config = load_config(ctx)

    async def go() -> None:
        async with _client(config) as client:
            await client.blobs().set_attributes(blob_obj_id, dict(attrs))

    run(go)
    if json_mode(ctx):
        emit_json({"objectId": blob_obj_id, "set": dict(attrs)})
    else:
        success(f"Attributes set on {blob_obj_id}.")


@click.command("remove-blob-attribute-fields")
@click.argument("blob_obj_id")
@click.option("--keys", "keys", multiple=True, required=True)
@global_options
@click.pass_context
def remove_blob_attribute_fields(
    ctx: click.Context, blob_obj_id: str, keys: tuple[str, ...]
) -> None:
    """Remove some attribute keys of a blob object."""
    config = load_config(ctx)

    async def go() -> None:
        async with _client(config) as client:
            await client.blobs().remove_attribute_fields(blob_obj_id, list(keys))

    run(go)
    if json_mode(ctx):
        emit_json({"objectId": blob_obj_id, "removed": list(keys)})
    else:
        success(f"Attribute fields removed from {blob_obj_id}.")


@click.command("remove-blob-attribute")
@click.argument("blob_obj_id")
@global_options
@click.pass_context
def remove_blob_attribute(ctx: click.Context, blob_obj_id: str) -> None:
    """Remove every attribute of a blob object."""
    config = load_config(ctx)

    async def go() -> None:
        async with _client(config) as client:
            await client.blobs().remove_attributes(blob_obj_id)

    run(go)
    if json_mode(ctx):
        emit_json({"objectId": blob_obj_id, "removed": "all"})
    else:
        success(f"All attributes removed from {blob_obj_id}.")


@click.command("health")
@click.option("--committee", is_flag=True, default=True, help="Every member of the committee.")
@global_options
@click.pass_context
def health(ctx: click.Context, committee: bool) -> None:
    """Health of the storage nodes of the current committee."""
    del committee
    config = load_config(ctx)

    async def go() -> list[dict[str, Any]]:
        async with _client(config) as client:
            return await client.health()

    rows = run(go)
    if json_mode(ctx):
        emit_json(rows)
        return
    for row in rows:
        if "error" in row:
            click.echo(f"{row['name']:10} {row['url']}  DOWN  {row['error']}")
        else:
            h = row["health"]
            click.echo(
                f"{row['name']:10} {row['url']}  {h['nodeStatus']:8} epoch {h['epoch']}  "
                f"{h['shardSummary']['owned']} shards  events {h['eventProgress']['persisted']}"
            )


COMMANDS = [
    store,
    read,
    blob_status,
    list_blobs,
    delete,
    extend,
    share,
    fund_shared_blob,
    burn_blobs,
    get_blob_attribute,
    set_blob_attribute,
    remove_blob_attribute_fields,
    remove_blob_attribute,
    health,
]


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
