"""The verbs that manage Blob objects on chain: list-blobs, delete, extend, share,
fund-shared-blob, burn-blobs and the blob attribute verbs.

Arguments and `--json` shapes are upstream's (`args.rs`, `responses.rs`); the SDK is imported
inside each verb.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pywalrus.cli.common import (
    check_readable,
    confirm,
    exactly_one,
    global_options,
    json_mode,
    load_config,
    one_line,
    read_file,
    run,
    walrus_client,
    will_ask,
)
from pywalrus.cli.output import (
    emit_json,
    fail,
    human_bytes,
    human_frost,
    success,
    usage,
    warning,
)
from pywalrus.cli.params import BLOB_ID, ENCODING_TYPE_OPTION, OBJECT_ID, WalrusCommand

if TYPE_CHECKING:
    from pywalrus.client.blob_objects import BlobOps
    from pywalrus.client.client import WalrusClient
    from pywalrus.core.types import BlobId

POST_DELETION_WAIT_S = 1.0
"""Upstream waits this long after deleting before it asks for the blob's status."""


def _blob_table(blobs: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for header in ("Blob ID", "Unencoded size", "Certified?", "Deletable?", "Exp. epoch"):
        table.add_column(header, justify="left" if header == "Blob ID" else "center")
    table.add_column("Object ID", no_wrap=True)
    for blob in blobs:
        table.add_row(
            blob["blobId"],
            human_bytes(blob["size"]),
            str(blob["certifiedEpoch"] is not None).lower(),
            str(blob["deletable"]).lower(),
            str(blob["storage"]["endEpoch"]),
            blob["id"],
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=220)
    console.print(table)


@click.command("list-blobs")
@click.option("--include-expired", is_flag=True, help="Include expired blobs.")
@global_options
@click.pass_context
def list_blobs(ctx: click.Context, include_expired: bool) -> None:
    """List the blob objects the wallet owns."""
    config = load_config(ctx)

    async def go() -> list[dict[str, Any]]:
        async with walrus_client(ctx, config) as client:
            return await client.blobs().list_blobs(include_expired)

    blobs = run(go)
    if json_mode(ctx):
        emit_json(blobs)
    elif not blobs:
        click.echo("No blobs found.")
    else:
        _blob_table(blobs)


def _identity(
    blob_id: str | None = None, file: str | None = None, object_id: str | None = None
) -> dict[str, Any]:
    """Upstream's `BlobIdentity` JSON: what a delete was asked to act on."""
    return {"blobId": blob_id, "file": file, "objectId": object_id}


def _identity_text(identity: dict[str, Any]) -> str:
    parts = []
    if identity["blobId"]:
        parts.append(f"blob ID: {identity['blobId']}")
    if identity["file"]:
        parts.append(f"file: {identity['file']}")
    if identity["objectId"]:
        parts.append(f"object ID: {identity['objectId']}")
    return " ".join(parts)


@click.command(
    "delete",
    cls=WalrusCommand,
    variadic=("--files", "--file", "--blob-ids", "--blob-id", "--object-ids", "--object-id"),
)
@click.option(
    "--files",
    "--file",
    "files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="File(s) whose blobs to delete (their blob IDs are computed).",
)
@click.option(
    "--blob-ids",
    "--blob-id",
    "blob_ids",
    multiple=True,
    type=BLOB_ID,
    help="Blob ID(s): every owned deletable object of each is deleted.",
)
@click.option(
    "--object-ids",
    "--object-id",
    "object_ids",
    multiple=True,
    type=OBJECT_ID,
    help="Blob object ID(s) to delete.",
)
@click.option("--yes", is_flag=True, help="Delete without asking for confirmation.")
@click.option("--no-status-check", is_flag=True, help="Do not check the status afterwards.")
@ENCODING_TYPE_OPTION
@global_options
@click.pass_context
def delete(
    ctx: click.Context,
    files: tuple[Path, ...],
    blob_ids: tuple[BlobId, ...],
    object_ids: tuple[str, ...],
    yes: bool,
    no_status_check: bool,
) -> None:
    """Delete deletable blobs the wallet owns, by file, blob ID or object ID.

    Every target is checked (files readable, IDs well-formed) before anything is deleted;
    each then gets its own result. On a terminal, the objects of each blob ID are listed and
    deleted only once confirmed (unless --yes).
    """
    if not (files or blob_ids or object_ids):
        raise usage("no files, blob IDs, or object IDs specified")
    for path in files:
        check_readable(path)
    config = load_config(ctx)
    as_json = json_mode(ctx)

    async def go() -> list[dict[str, Any]]:
        from pywalrus.core.encoding import compute_metadata

        async with walrus_client(ctx, config) as client:
            targets: list[tuple[dict[str, Any], BlobId | None]] = []
            if files:
                encoding = (await client.committee()).encoding
                for path in files:
                    computed = compute_metadata(read_file(path), encoding).blob_id()
                    targets.append((_identity(str(computed), str(path)), computed))
            targets += [(_identity(str(b)), b) for b in blob_ids]
            targets += [(_identity(object_id=o), None) for o in object_ids]
            return [
                await _delete_one(client, identity, blob_id, yes or as_json, no_status_check)
                for identity, blob_id in targets
            ]

    outputs = run(go)
    if as_json:
        emit_json(outputs)
    else:
        for output in outputs:
            _render_delete(output)
    good = [o for o in outputs if not o.get("error") and not o["aborted"] and not o["noBlobFound"]]
    if not as_json:
        if len(good) == len(outputs):
            success(f"All {len(outputs)} deletion operations completed successfully.")
        else:
            warning(
                f"{len(good)}/{len(outputs)} deletion operations completed successfully.", err=False
            )
    failed = [o for o in outputs if o.get("error") or o["noBlobFound"]]
    if failed:
        raise fail(f"{len(failed)} of {len(outputs)} deletions failed or found nothing to delete")


async def _delete_one(
    client: WalrusClient,
    identity: dict[str, Any],
    blob_id: BlobId | None,
    yes: bool,
    no_status_check: bool,
) -> dict[str, Any]:
    """One target's `DeleteOutput` (upstream's shape), its failure included."""
    import asyncio

    from pywalrus.client.blob_objects import blob_object_json
    from pywalrus.core.errors import WalrusError

    ops = client.blobs()
    output: dict[str, Any] = {
        "blobIdentity": identity,
        "deletedBlobs": [],
        "noBlobFound": False,
        "aborted": False,
    }
    try:
        if blob_id is not None:
            found = [o for o in await ops.objects_for(blob_id) if o.fields["deletable"]]
        else:
            found = [o for o in await ops.owned_live_blobs() if o.id == identity["objectId"]]
        if not found:
            output["noBlobFound"] = True
            return output
        if blob_id is not None and will_ask(yes, False):
            ids = "\n".join(o.id for o in found)
            click.echo(f"The following blobs with blob ID {blob_id} are deletable:\n{ids}")
            if not confirm("Do you want to proceed?", False, False):
                success("Aborting. No blobs were deleted.")
                output["aborted"] = True
                return output
        for obj in found:
            await ops.delete(obj.id)
            output["deletedBlobs"].append(blob_object_json(obj))
        if blob_id is not None and not no_status_check:
            await asyncio.sleep(POST_DELETION_WAIT_S)
            try:
                output["postDeletionStatus"] = await client.blob_status(blob_id)
            except WalrusError as exc:
                output["error"] = f"Failed to get post-deletion status: {one_line(str(exc))}"
    except WalrusError as exc:
        output["error"] = one_line(str(exc))
    return output


def _render_delete(output: dict[str, Any]) -> None:
    click.echo(
        "\n"
        + click.style("Delete result for: ", bold=True)
        + _identity_text(output["blobIdentity"])
    )
    if output.get("error"):
        click.echo(click.style("Error:", fg="red", bold=True) + " " + output["error"])
    elif output["aborted"]:
        warning("Operation aborted. No blobs were deleted.", err=False)
    elif output["noBlobFound"]:
        warning("No owned deletable blobs found.", err=False)
        return
    if output["deletedBlobs"]:
        success("The following objects were deleted:")
        _blob_table(output["deletedBlobs"])
        status = output.get("postDeletionStatus")
        if status is not None:
            click.echo(click.style("Note:", bold=True) + " " + _after_deletion(status))


def _after_deletion(status: Any) -> str:
    still = "The above blob objects were removed, but the blob still exists on Walrus."
    if status == "nonexistent":
        return (
            "The blob was removed from Walrus (note that the data may still be publicly "
            "available, i.e., if someone has downloaded it before deletion)."
        )
    ((kind, body),) = status.items()
    counts = body.get("deletableCounts") or {}
    summary = (
        f"{counts.get('count_deletable_total', 0)} total, of which "
        f"{counts.get('count_deletable_certified', 0)} certified"
    )
    if kind == "invalid":
        return "The blob was marked as invalid."
    if kind == "permanent":
        state = "certified" if body["isCertified"] else "registered"
        extra = (
            f"and deletable instances ({summary}) " if counts.get("count_deletable_total") else ""
        )
        return f"{still} There are still one or more {state} permanent instances {extra}available."
    return f"{still} There are still one or more deletable instances ({summary}) available."


@click.command("extend")
@click.option("--blob-obj-id", type=OBJECT_ID, required=True, help="The blob object to extend.")
@click.option("--shared", is_flag=True, help="The object is a shared blob (paid from its funds).")
@click.option("--epochs-extended", type=click.IntRange(min=1), required=True, help="Epochs to add.")
@global_options
@click.pass_context
def extend(ctx: click.Context, blob_obj_id: str, shared: bool, epochs_extended: int) -> None:
    """Extend an owned or shared blob's lifetime."""
    config = load_config(ctx)

    async def go() -> dict[str, Any]:
        async with walrus_client(ctx, config) as client:
            return await client.blobs().extend(blob_obj_id, epochs_extended, shared)

    run(go)
    if json_mode(ctx):
        emit_json({"epochsExtended": epochs_extended})
    else:
        success(f"The blob has been extended by {epochs_extended} epochs")


@click.command("share")
@click.option("--blob-obj-id", type=OBJECT_ID, required=True, help="The (owned) blob to share.")
@click.option("--amount", type=click.IntRange(min=1), help="FROST to fund the shared blob with.")
@global_options
@click.pass_context
def share(ctx: click.Context, blob_obj_id: str, amount: int | None) -> None:
    """Share a permanent blob: anyone can then fund and extend it."""
    config = load_config(ctx)

    async def go() -> dict[str, Any]:
        async with walrus_client(ctx, config) as client:
            return await client.blobs().share(blob_obj_id, amount or 0)

    result = run(go)
    shared_id = result["sharedBlobObject"]
    if json_mode(ctx):
        emit_json({"sharedBlobObjectId": shared_id, "amount": amount})
    else:
        funded = f", funded with {human_frost(amount)}" if amount else ""
        success(f"The blob has been shared, object id: {shared_id}{funded}")


@click.command("fund-shared-blob")
@click.option("--shared-blob-obj-id", type=OBJECT_ID, required=True, help="The shared blob.")
@click.option("--amount", type=click.IntRange(min=1), required=True, help="FROST to add.")
@global_options
@click.pass_context
def fund_shared_blob(ctx: click.Context, shared_blob_obj_id: str, amount: int) -> None:
    """Add WAL to a shared blob's funds."""
    config = load_config(ctx)

    async def go() -> dict[str, Any]:
        async with walrus_client(ctx, config) as client:
            return await client.blobs().fund_shared(shared_blob_obj_id, amount)

    run(go)
    if json_mode(ctx):
        emit_json({"amount": amount})
    else:
        success(f"The blob has been funded with {human_frost(amount)}")


@click.command("burn-blobs", cls=WalrusCommand, variadic=("--object-ids",))
@click.option("--object-ids", multiple=True, type=OBJECT_ID, help="The Blob objects to burn.")
@click.option("--all", "all_", is_flag=True, help="Burn every blob object the wallet owns.")
@click.option("--all-expired", is_flag=True, help="Burn every expired blob object it owns.")
@click.option("--yes", is_flag=True, help="Burn without asking for confirmation.")
@global_options
@click.pass_context
def burn_blobs(
    ctx: click.Context, object_ids: tuple[str, ...], all_: bool, all_expired: bool, yes: bool
) -> None:
    """Burn Blob objects: the data stays on Walrus until it expires, but the objects (and
    the right to extend or delete them) are gone, and no storage is refunded."""
    exactly_one(object_ids=bool(object_ids), all=all_, all_expired=all_expired)
    config = load_config(ctx)
    as_json = json_mode(ctx)

    async def targets(ops: BlobOps) -> list[str]:
        if object_ids:
            return list(object_ids)
        everything = await ops.list_blobs(include_expired=True)
        live = {b["id"] for b in await ops.list_blobs()}
        return [b["id"] for b in everything if all_ or b["id"] not in live]

    async def go() -> list[str] | None:
        async with walrus_client(ctx, config) as client:
            ops = client.blobs()
            chosen = await targets(ops)
            if not chosen:
                return chosen
            if will_ask(yes, as_json):
                listing = "\n".join(chosen)
                warning(
                    f"You are about to burn the following blob object(s):\n{listing}\n"
                    f"({len(chosen)} total).\nIf unsure, please enter `No` and check the "
                    "`--help` manual.",
                    err=False,
                )
            if not confirm("Do you want to proceed?", yes, as_json):
                return None
            await ops.burn(chosen)
            return chosen

    burned = run(go)
    if burned is None:
        success("Aborting. No blobs were burned.")
    elif as_json:
        emit_json({"burnedBlobObjectIds": burned})
    elif not burned:
        click.echo(f"The wallet does not own any {'expired ' if all_expired else ''}blob objects.")
    else:
        success("The specified blob objects have been burned")


@click.command("get-blob-attribute")
@click.argument("blob_obj_id", type=OBJECT_ID)
@global_options
@click.pass_context
def get_blob_attribute(ctx: click.Context, blob_obj_id: str) -> None:
    """Print a blob object's attribute (its key-value pairs)."""
    config = load_config(ctx)

    async def go() -> dict[str, str] | None:
        async with walrus_client(ctx, config) as client:
            return await client.blobs().attributes(blob_obj_id)

    attributes = run(go)
    if json_mode(ctx):
        contents = [{"key": k, "value": v} for k, v in (attributes or {}).items()]
        emit_json({"attribute": {"metadata": {"contents": contents}} if attributes else None})
    elif not attributes:
        click.echo("No attribute found")
    else:
        click.echo("\n" + click.style("Attribute", bold=True))
        for key, value in attributes.items():
            click.echo(f"{key}: {value}")


@click.command("set-blob-attribute")
@click.argument("blob_obj_id", type=OBJECT_ID)
@click.option("--attr", "attributes", nargs=2, multiple=True, required=True, metavar="KEY VALUE")
@global_options
@click.pass_context
def set_blob_attribute(
    ctx: click.Context, blob_obj_id: str, attributes: tuple[tuple[str, str], ...]
) -> None:
    """Set key-value pairs of a blob object's attribute (`--attr KEY VALUE`, repeated)."""
    config = load_config(ctx)

    async def go() -> None:
        async with walrus_client(ctx, config) as client:
            await client.blobs().set_attributes(blob_obj_id, dict(attributes))

    run(go)
    if json_mode(ctx):
        emit_json({"blobObjId": blob_obj_id, "set": dict(attributes)})
    else:
        success(f"Successfully added attribute for blob object {blob_obj_id}")


@click.command("remove-blob-attribute-fields", cls=WalrusCommand, variadic=("--keys",))
@click.argument("blob_obj_id", type=OBJECT_ID)
@click.option("--keys", "keys", multiple=True, required=True, help="The keys to remove.")
@global_options
@click.pass_context
def remove_blob_attribute_fields(
    ctx: click.Context, blob_obj_id: str, keys: tuple[str, ...]
) -> None:
    """Remove key-value pairs from a blob object's attribute (`--keys K1 K2 …`)."""
    config = load_config(ctx)

    async def go() -> None:
        async with walrus_client(ctx, config) as client:
            await client.blobs().remove_attribute_fields(blob_obj_id, list(keys))

    run(go)
    if json_mode(ctx):
        emit_json({"blobObjId": blob_obj_id, "removed": list(keys)})
    else:
        success(f"Successfully removed attribute for blob object {blob_obj_id}")


@click.command("remove-blob-attribute")
@click.argument("blob_obj_id", type=OBJECT_ID)
@global_options
@click.pass_context
def remove_blob_attribute(ctx: click.Context, blob_obj_id: str) -> None:
    """Remove a blob object's whole attribute."""
    config = load_config(ctx)

    async def go() -> None:
        async with walrus_client(ctx, config) as client:
            await client.blobs().remove_attributes(blob_obj_id)

    run(go)
    if json_mode(ctx):
        emit_json({"blobObjId": blob_obj_id, "removed": "all"})
    else:
        success(f"Successfully removed attribute for blob object {blob_obj_id}")


COMMANDS = (
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
)
