"""The Walrus system contract: storage resources, blobs, certificates and per-epoch accounting.

Follows `system_state_inner.move`, `storage_resource.move`, `blob.move` and
`shared_blob.move` (protocol page §4, §6): space is bought per epoch into the
future accounting ring (whose entry 0 is the current epoch), a blob is registered against a
storage resource large enough for its encoded size, and certified by a quorum certificate of
the current committee over a storage confirmation.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import coin, entry
from pywalrus.chain.objects import SHARED, Object
from pywalrus.core.config import BYTES_PER_UNIT_SIZE, EncodingConfig
from pywalrus.core.errors import Abort, InvalidBlobIdError, WalrusError
from pywalrus.core.metadata import derive_blob_id
from pywalrus.core.types import BlobId, EncodingType

SYSTEM = "walrus::System"
ACCOUNTING = "walrus::FutureAccounting"
"""Upstream keeps the ring inside the system object; a separate singleton means a storage
purchase rewrites only the ring, not the committee and parameters."""
STORAGE = "walrus::Storage"
BLOB = "walrus::Blob"
SHARED_BLOB = "walrus::SharedBlob"
MAX_MAX_EPOCHS_AHEAD = 1000


def storage_units(size: int) -> int:
    """Storage units (1 MiB each, rounded up) of `size` encoded bytes."""
    return -(-size // BYTES_PER_UNIT_SIZE)


def system_state(ctx: TxContext) -> Object:
    return ctx.singleton(SYSTEM)


def system_view(ctx: TxContext) -> Object:
    """The system object for reading only (cheaper: no copy to compare and write back)."""
    return ctx.singleton_view(SYSTEM)


def current_epoch(system: Object) -> int:
    return int(system.fields["epoch"])


def encoded_size(system: Object, size: int) -> int:
    try:
        return EncodingConfig(system.fields["n_shards"]).encoded_length(size)
    except WalrusError as exc:
        raise Abort("EInvalidBlobSize", str(exc)) from None


def accounting_ring(ctx: TxContext) -> list[dict[str, Any]]:
    """The future accounting ring, writable: `[{epoch, used_capacity, rewards}]`."""
    ring: list[dict[str, Any]] = ctx.singleton(ACCOUNTING).fields["ring"]
    return ring


def _accounting_slots(ctx: TxContext, system: Object, start: int, end: int) -> list[dict[str, Any]]:
    epoch = current_epoch(system)
    if not epoch <= start < end:
        raise Abort("EInvalidEpochRange", f"epochs [{start}, {end}) do not start from now")
    if end - epoch > system.fields["max_epochs_ahead"]:
        raise Abort(
            "EInvalidEpochsAhead",
            f"end epoch {end} is more than {system.fields['max_epochs_ahead']} epochs ahead",
        )
    return accounting_ring(ctx)[start - epoch : end - epoch]


def _pay_for_storage(
    ctx: TxContext, system: Object, size: int, start: int, end: int, payment: str
) -> int:
    """Charge storage for [start, end) into the accounting ring; check capacity."""
    units = storage_units(size)
    price: int = system.fields["storage_price_per_unit_size"] * units
    slots = _accounting_slots(ctx, system, start, end)
    coin.withdraw(ctx, payment, price * len(slots))
    for slot in slots:
        if slot["used_capacity"] + size > system.fields["total_capacity_size"]:
            raise Abort(
                "EStorageExceeded",
                f"not enough capacity in epoch {slot['epoch']} for {size} more bytes",
            )
        slot["used_capacity"] += size
        slot["rewards"] += price
    return price * len(slots)


def _new_storage(ctx: TxContext, start: int, end: int, size: int) -> Object:
    return ctx.create(
        STORAGE, ctx.sender, {"start_epoch": start, "end_epoch": end, "storage_size": size}
    )


@entry("system::reserve_space")
def reserve_space(
    ctx: TxContext, storage_amount: int, epochs_ahead: int, payment: str
) -> dict[str, Any]:
    """Buy `storage_amount` encoded bytes for the current and the next epochs_ahead−1 epochs."""
    system = system_view(ctx)
    if not 0 < epochs_ahead <= system.fields["max_epochs_ahead"]:
        raise Abort(
            "EInvalidEpochsAhead",
            f"epochs ahead must be between 1 and {system.fields['max_epochs_ahead']}",
        )
    if storage_amount <= 0:
        raise Abort("EInvalidStorageSize", "storage amount must be positive")
    start = current_epoch(system)
    cost = _pay_for_storage(ctx, system, storage_amount, start, start + epochs_ahead, payment)
    storage = _new_storage(ctx, start, start + epochs_ahead, storage_amount)
    return {"storage": storage.id, "cost": cost}


@entry("system::reserve_space_for_epochs")
def reserve_space_for_epochs(
    ctx: TxContext, storage_amount: int, start_epoch: int, end_epoch: int, payment: str
) -> dict[str, Any]:
    """Buy storage for [start, end); a start in the past is clamped to now."""
    system = system_view(ctx)
    start = max(start_epoch, current_epoch(system))
    if storage_amount <= 0:
        raise Abort("EInvalidStorageSize", "storage amount must be positive")
    cost = _pay_for_storage(ctx, system, storage_amount, start, end_epoch, payment)
    return {"storage": _new_storage(ctx, start, end_epoch, storage_amount).id, "cost": cost}


@entry("storage::split_by_epoch")
def split_by_epoch(ctx: TxContext, storage: str, split_epoch: int) -> dict[str, Any]:
    """Split [start, end) into [start, split) (kept) and [split, end) (new)."""
    obj = ctx.get_mut(storage, STORAGE)
    f = obj.fields
    if not f["start_epoch"] < split_epoch < f["end_epoch"]:
        raise Abort("EInvalidSplitEpoch", "split epoch must lie strictly inside the period")
    new = _new_storage(ctx, split_epoch, f["end_epoch"], f["storage_size"])
    f["end_epoch"] = split_epoch
    return {"storage": new.id}


@entry("storage::split_by_size")
def split_by_size(ctx: TxContext, storage: str, split_size: int) -> dict[str, Any]:
    """Split off a resource of `storage_size − split_size` bytes; keep `split_size` (either
    part may be empty, as upstream)."""
    obj = ctx.get_mut(storage, STORAGE)
    f = obj.fields
    if split_size > f["storage_size"]:
        raise Abort(
            "EIncompatibleAmount",
            f"split size {split_size} exceeds the resource's {f['storage_size']} bytes",
        )
    new = _new_storage(ctx, f["start_epoch"], f["end_epoch"], f["storage_size"] - split_size)
    f["storage_size"] = split_size
    return {"storage": new.id}


@entry("storage::fuse")
def fuse(ctx: TxContext, storage: str, other: str) -> dict[str, Any]:
    """Fuse two resources: same period (sizes add) or same size and adjacent periods."""
    first, second = ctx.get_mut(storage, STORAGE), ctx.get_mut(other, STORAGE)
    if first.id == second.id:
        raise Abort("EBadArgument", "cannot fuse a storage resource with itself")
    a, b = first.fields, second.fields
    if (a["start_epoch"], a["end_epoch"]) == (b["start_epoch"], b["end_epoch"]):
        a["storage_size"] += b["storage_size"]
    elif a["storage_size"] == b["storage_size"] and a["end_epoch"] == b["start_epoch"]:
        a["end_epoch"] = b["end_epoch"]
    elif a["storage_size"] == b["storage_size"] and b["end_epoch"] == a["start_epoch"]:
        a["start_epoch"] = b["start_epoch"]
    else:
        raise Abort(
            "EIncompatibleStorage", "storage resources are neither same-period nor adjacent"
        )
    ctx.delete(second)
    return {"storage": first.id}


def _parse_blob_id(text: str) -> BlobId:
    try:
        return BlobId.parse(text)
    except InvalidBlobIdError as exc:
        raise Abort("EInvalidBlobId", str(exc)) from None


def _decode_b64(name: str, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Abort("EBadArgument", f"{name} is not base64") from None


@entry("system::register_blob")
def register_blob(
    ctx: TxContext,
    storage: str,
    blob_id: str,
    root_hash: str,
    size: int,
    encoding_type: int,
    deletable: bool,
    write_payment: str,
) -> dict[str, Any]:
    """Register a blob against a storage resource; charges the write fee."""
    system = system_view(ctx)
    epoch = current_epoch(system)
    resource = ctx.get_mut(storage, STORAGE)
    if encoding_type != EncodingType.RS2:
        raise Abort("EInvalidEncodingType", f"unsupported encoding type {encoding_type}")
    try:
        root = bytes.fromhex(root_hash)
    except ValueError:
        raise Abort("EBadArgument", "root hash must be hex") from None
    if len(root) != 32:
        raise Abort("EBadArgument", "root hash must be 32 bytes")
    claimed = _parse_blob_id(blob_id)
    if derive_blob_id(EncodingType.RS2, size, root) != claimed:
        raise Abort("EInvalidBlobId", "blob ID does not match root hash, size and encoding")
    f = resource.fields
    if not f["start_epoch"] <= epoch < f["end_epoch"]:
        raise Abort("EResourceBounds", "storage resource is not valid in the current epoch")
    needed = encoded_size(system, size)
    if f["storage_size"] < needed:
        raise Abort(
            "EResourceSize", f"storage holds {f['storage_size']} bytes, the blob needs {needed}"
        )
    write_fee = system.fields["write_price_per_unit_size"] * storage_units(needed)
    coin.withdraw(ctx, write_payment, write_fee)
    accounting_ring(ctx)[0]["rewards"] += write_fee
    ctx.delete(resource)
    blob = ctx.create(
        BLOB,
        ctx.sender,
        {
            "registered_epoch": epoch,
            "blob_id": str(claimed),
            "size": size,
            "encoding_type": encoding_type,
            "certified_epoch": None,
            "storage": {"id": resource.id, **f},
            "deletable": deletable,
            "attributes": {},
        },
    )
    ctx.emit(
        "BlobRegistered",
        {
            "epoch": epoch,
            "blob_id": str(claimed),
            "size": size,
            "encoding_type": encoding_type,
            "end_epoch": f["end_epoch"],
            "deletable": deletable,
            "object_id": blob.id,
        },
        [blob.id],
    )
    return {"blob": blob.id, "write_fee": write_fee}


def _certified_event(blob: Object, is_extension: bool) -> dict[str, Any]:
    f = blob.fields
    return {
        "epoch": f["certified_epoch"],
        "blob_id": f["blob_id"],
        "end_epoch": f["storage"]["end_epoch"],
        "deletable": f["deletable"],
        "object_id": blob.id,
        "is_extension": is_extension,
    }


@entry("system::certify_blob")
def certify_blob(
    ctx: TxContext, blob: str, signature: str, signers_bitmap: str, message: str
) -> dict[str, Any]:
    """Certify a registered blob with a quorum certificate over its storage confirmation."""
    from pywalrus.chain.contracts.certify import verify_confirmation

    system = system_view(ctx)
    epoch = current_epoch(system)
    obj = ctx.get_mut(blob, BLOB)
    f = obj.fields
    confirmation = verify_confirmation(
        system,
        _decode_b64("signature", signature),
        _decode_b64("signers bitmap", signers_bitmap),
        _decode_b64("message", message),
    )
    if confirmation.blob_id != f["blob_id"]:
        raise Abort("EInvalidBlobId", "the certificate is for a different blob")
    if confirmation.object_id != (obj.id if f["deletable"] else None):
        raise Abort(
            "EInvalidBlobPersistenceType", "certificate persistence does not match the blob"
        )
    if f["certified_epoch"] is not None:
        raise Abort("EBlobAlreadyCertified", "blob is already certified")
    if f["storage"]["end_epoch"] <= epoch:
        raise Abort("EResourceBounds", "blob has expired")
    f["certified_epoch"] = epoch
    ctx.emit("BlobCertified", _certified_event(obj, False), [obj.id])
    return {"blob": obj.id}


@entry("system::delete_blob")
def delete_blob(ctx: TxContext, blob: str) -> dict[str, Any]:
    """Delete a deletable, unexpired blob; its storage resource returns to the owner."""
    system = system_view(ctx)
    epoch = current_epoch(system)
    obj = ctx.get_mut(blob, BLOB)
    f = obj.fields
    if not f["deletable"]:
        raise Abort("EBlobNotDeletable", "a permanent blob cannot be deleted")
    storage_fields = dict(f["storage"])
    if storage_fields["end_epoch"] <= epoch:
        raise Abort("EResourceBounds", "blob has expired")
    ctx.delete(obj)
    storage = _new_storage(
        ctx,
        storage_fields["start_epoch"],
        storage_fields["end_epoch"],
        storage_fields["storage_size"],
    )
    ctx.emit(
        "BlobDeleted",
        {
            "epoch": epoch,
            "blob_id": f["blob_id"],
            "end_epoch": storage_fields["end_epoch"],
            "object_id": obj.id,
            "was_certified": f["certified_epoch"] is not None,
        },
        [obj.id],
    )
    return {"storage": storage.id}


@entry("system::burn_blob")
def burn_blob(ctx: TxContext, blob: str) -> None:
    """Destroy a blob object and its storage; the data stays until it expires."""
    ctx.delete(ctx.get_mut(blob, BLOB))


def _extend(ctx: TxContext, system: Object, obj: Object, epochs: int, payment: str) -> int:
    epoch = current_epoch(system)
    f = obj.fields
    if f["certified_epoch"] is None:
        raise Abort("ENotCertified", "only a certified blob can be extended")
    end = f["storage"]["end_epoch"]
    if end <= epoch:
        raise Abort("EResourceBounds", "blob has expired")
    if epochs <= 0:
        raise Abort("EInvalidEpochsAhead", "extend by at least one epoch")
    cost = _pay_for_storage(ctx, system, f["storage"]["storage_size"], end, end + epochs, payment)
    f["storage"]["end_epoch"] = end + epochs
    ctx.emit("BlobCertified", _certified_event(obj, True), [obj.id])
    return cost


@entry("system::extend_blob")
def extend_blob(ctx: TxContext, blob: str, extended_epochs: int, payment: str) -> dict[str, Any]:
    """Pay to keep a certified blob for `extended_epochs` more epochs."""
    system = system_view(ctx)
    cost = _extend(ctx, system, ctx.get_mut(blob, BLOB), extended_epochs, payment)
    return {"blob": blob, "cost": cost}


@entry("system::extend_blob_with_resource")
def extend_blob_with_resource(ctx: TxContext, blob: str, storage: str) -> dict[str, Any]:
    """Extend with a storage resource of the same size that starts when the blob ends."""
    system = system_view(ctx)
    obj = ctx.get_mut(blob, BLOB)
    resource = ctx.get_mut(storage, STORAGE)
    f, r = obj.fields, resource.fields
    if f["certified_epoch"] is None:
        raise Abort("ENotCertified", "only a certified blob can be extended")
    if f["storage"]["end_epoch"] <= current_epoch(system):
        raise Abort("EResourceBounds", "blob has expired")
    if (
        r["storage_size"] != f["storage"]["storage_size"]
        or r["start_epoch"] != f["storage"]["end_epoch"]
    ):
        raise Abort(
            "EIncompatibleStorage", "resource must have the blob's size and start at its end"
        )
    f["storage"]["end_epoch"] = r["end_epoch"]
    ctx.delete(resource)
    ctx.emit("BlobCertified", _certified_event(obj, True), [obj.id])
    return {"blob": obj.id}


@entry("blob::set_attribute")
def set_attribute(ctx: TxContext, blob: str, key: str, value: str) -> None:
    """Insert or update one attribute (`walrus::metadata` pair) of a blob."""
    attributes = ctx.get_mut(blob, BLOB).fields["attributes"]
    attributes[key] = value


@entry("blob::remove_attribute")
def remove_attribute(ctx: TxContext, blob: str, key: str) -> None:
    """Remove one attribute if present."""
    ctx.get_mut(blob, BLOB).fields["attributes"].pop(key, None)


@entry("blob::remove_attributes")
def remove_attributes(ctx: TxContext, blob: str) -> None:
    """Remove all attributes of a blob."""
    ctx.get_mut(blob, BLOB).fields["attributes"] = {}


@entry("shared_blob::new")
def share_blob(
    ctx: TxContext, blob: str, payment: str | None = None, amount: int = 0
) -> dict[str, Any]:
    """Wrap a blob into a shared object anyone can fund and extend (and nobody can delete)."""
    obj = ctx.get_mut(blob, BLOB)
    funds = coin.withdraw(ctx, payment, amount) if payment is not None else 0
    wrapped = {"object_id": obj.id, **obj.fields}
    ctx.delete(obj)
    shared = ctx.create(SHARED_BLOB, SHARED, {"blob": wrapped, "funds": funds})
    return {"shared_blob": shared.id}


@entry("shared_blob::fund")
def fund_shared_blob(ctx: TxContext, shared_blob: str, payment: str, amount: int) -> None:
    """Add WAL to a shared blob's funds."""
    shared = ctx.get_mut(shared_blob, SHARED_BLOB)
    shared.fields["funds"] += coin.withdraw(ctx, payment, amount)


@entry("shared_blob::extend")
def extend_shared_blob(ctx: TxContext, shared_blob: str, extended_epochs: int) -> dict[str, Any]:
    """Extend a shared blob, paying from its funds."""
    system = system_view(ctx)
    shared = ctx.get_mut(shared_blob, SHARED_BLOB)
    inner = shared.fields["blob"]
    cost = (
        system.fields["storage_price_per_unit_size"]
        * storage_units(inner["storage"]["storage_size"])
        * extended_epochs
    )
    if shared.fields["funds"] < cost:
        raise Abort(
            "EInsufficientFunds", f"shared blob holds {shared.fields['funds']}, needs {cost}"
        )
    # Pay through a transient coin so that the accounting path is the one of extend_blob.
    payer = coin.new_coin(ctx, ctx.sender, cost)
    shared.fields["funds"] -= cost
    view = Object(inner["object_id"], BLOB, SHARED, 0, inner)
    _extend(ctx, system, view, extended_epochs, payer.id)
    ctx.delete(payer)
    return {"cost": cost}


@entry("system::invalidate_blob_id")
def invalidate_blob_id(
    ctx: TxContext, signature: str, signers_bitmap: str, message: str
) -> dict[str, Any]:
    """Mark a blob ID invalid with a validity-weight certificate over an InvalidBlobId message."""
    from pywalrus.chain.contracts.certify import verify_invalid_blob_id

    system = system_view(ctx)
    blob_id = verify_invalid_blob_id(
        system,
        _decode_b64("signature", signature),
        _decode_b64("signers bitmap", signers_bitmap),
        _decode_b64("message", message),
    )
    ctx.emit("InvalidBlobID", {"epoch": current_epoch(system), "blob_id": blob_id})
    return {"blob_id": blob_id}


@entry("system::migrate_accounting")
def migrate_accounting(ctx: TxContext) -> None:
    """Move the accounting ring of a chain created before `walrus::FutureAccounting` existed
    out of the system object into its own singleton (run by the chain at start-up)."""
    ctx.require_chain()
    system = system_state(ctx)
    ring = system.fields.pop("future_accounting", None)
    if ring is None:
        raise Abort("EAlreadyMigrated", "the accounting ring already has its own object")
    ctx.create(ACCOUNTING, SHARED, {"ring": ring}, singleton=True)


def needs_accounting_migration(system: Object, accounting_id: str | None) -> bool:
    return accounting_id is None and "future_accounting" in system.fields


def create_system(
    ctx: TxContext,
    n_shards: int,
    max_epochs_ahead: int,
    storage_price: int,
    write_price: int,
) -> Object:
    """The system object of epoch 0 (no committee yet)."""
    if not 0 < max_epochs_ahead <= MAX_MAX_EPOCHS_AHEAD:
        raise Abort(
            "EInvalidMaxEpochsAhead", f"max epochs ahead must be in [1, {MAX_MAX_EPOCHS_AHEAD}]"
        )
    try:
        EncodingConfig(n_shards)
    except WalrusError as exc:
        raise Abort("EInvalidShards", str(exc)) from None
    system = ctx.create(
        SYSTEM,
        SHARED,
        {
            "epoch": 0,
            "n_shards": n_shards,
            "max_epochs_ahead": max_epochs_ahead,
            "total_capacity_size": 0,
            "storage_price_per_unit_size": storage_price,
            "write_price_per_unit_size": write_price,
            "committee": {"epoch": 0, "n_shards": n_shards, "members": []},
            "previous_committee": None,
        },
        singleton=True,
    )
    ring = [{"epoch": e, "used_capacity": 0, "rewards": 0} for e in range(max_epochs_ahead)]
    ctx.create(ACCOUNTING, SHARED, {"ring": ring}, singleton=True)
    return system
