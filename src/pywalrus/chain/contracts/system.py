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
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import coin, entry
from pywalrus.chain.objects import SHARED, Object
from pywalrus.chain.schema import BLOB as BLOB
from pywalrus.chain.schema import (
    FUTURE_ACCOUNTING,
    AccountingEntry,
    Blob,
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    FutureAccounting,
    InvalidBlobID,
    SharedBlob,
    Storage,
    System,
    SystemCommittee,
)
from pywalrus.chain.schema import SHARED_BLOB as SHARED_BLOB
from pywalrus.chain.schema import STORAGE as STORAGE
from pywalrus.chain.schema import SYSTEM as SYSTEM
from pywalrus.core import pricing
from pywalrus.core.config import EncodingConfig
from pywalrus.core.errors import Abort, InvalidBlobIdError, WalrusError
from pywalrus.core.metadata import derive_blob_id
from pywalrus.core.types import BlobId, EncodingType, Epoch, Frost, ObjectId

ACCOUNTING = FUTURE_ACCOUNTING
"""Upstream keeps the ring inside the system object; a separate singleton means a storage
purchase rewrites only the ring, not the committee and parameters."""
MAX_MAX_EPOCHS_AHEAD = 1000


def system_state(ctx: TxContext) -> tuple[Object, System]:
    """The system object's working copy and content."""
    return ctx.load_singleton(System)


def system_view(ctx: TxContext) -> System:
    """The system object for reading only (cheaper: no copy to compare and write back)."""
    return ctx.read_singleton(System)


def encoded_size(system: System, size: int) -> int:
    try:
        return EncodingConfig(system.n_shards).encoded_length(size)
    except WalrusError as exc:
        raise Abort("EInvalidBlobSize", str(exc)) from None


def add_rewards(ctx: TxContext, amount: int) -> None:
    """Add `amount` to the current epoch's rewards in the accounting ring."""
    obj, accounting = ctx.load_singleton(FutureAccounting)
    first, *rest = accounting.ring
    ctx.store(obj, FutureAccounting((with_rewards(first, amount), *rest)))


def with_rewards(entry_: AccountingEntry, amount: int) -> AccountingEntry:
    """The ring entry with `amount` more rewards."""
    return replace(entry_, rewards=Frost(entry_.rewards + amount))


def _pay_for_storage(
    ctx: TxContext, system: System, size: int, start: int, end: int, payment: str
) -> Frost:
    """Charge storage for [start, end) into the accounting ring; check capacity."""
    epoch = system.epoch
    if not epoch <= start < end:
        raise Abort("EInvalidEpochRange", f"epochs [{start}, {end}) do not start from now")
    if end - epoch > system.max_epochs_ahead:
        raise Abort(
            "EInvalidEpochsAhead",
            f"end epoch {end} is more than {system.max_epochs_ahead} epochs ahead",
        )
    obj, accounting = ctx.load_singleton(FutureAccounting)
    ring = list(accounting.ring)
    slots = range(len(ring))[start - epoch : end - epoch]
    price = pricing.storage_cost(size, system.storage_price_per_unit_size, 1)
    coin.withdraw(ctx, payment, price * len(slots))
    for index in slots:
        slot = ring[index]
        if slot.used_capacity + size > system.total_capacity_size:
            raise Abort(
                "EStorageExceeded",
                f"not enough capacity in epoch {slot.epoch} for {size} more bytes",
            )
        ring[index] = AccountingEntry(
            slot.epoch, slot.used_capacity + size, Frost(slot.rewards + price)
        )
    ctx.store(obj, FutureAccounting(tuple(ring)))
    return Frost(price * len(slots))


def _new_storage(ctx: TxContext, start: int, end: int, size: int) -> Object:
    return ctx.create(Storage(Epoch(start), Epoch(end), size), ctx.sender)


@entry("system::reserve_space")
def reserve_space(
    ctx: TxContext, storage_amount: int, epochs_ahead: int, payment: str
) -> dict[str, Any]:
    """Buy `storage_amount` encoded bytes for the current and the next epochs_ahead−1 epochs."""
    system = system_view(ctx)
    if not 0 < epochs_ahead <= system.max_epochs_ahead:
        raise Abort(
            "EInvalidEpochsAhead",
            f"epochs ahead must be between 1 and {system.max_epochs_ahead}",
        )
    if storage_amount <= 0:
        raise Abort("EInvalidStorageSize", "storage amount must be positive")
    start = system.epoch
    cost = _pay_for_storage(ctx, system, storage_amount, start, start + epochs_ahead, payment)
    storage = _new_storage(ctx, start, start + epochs_ahead, storage_amount)
    return {"storage": storage.id, "cost": cost}


@entry("system::reserve_space_for_epochs")
def reserve_space_for_epochs(
    ctx: TxContext, storage_amount: int, start_epoch: int, end_epoch: int, payment: str
) -> dict[str, Any]:
    """Buy storage for [start, end); a start in the past is clamped to now."""
    system = system_view(ctx)
    start = max(start_epoch, system.epoch)
    if storage_amount <= 0:
        raise Abort("EInvalidStorageSize", "storage amount must be positive")
    cost = _pay_for_storage(ctx, system, storage_amount, start, end_epoch, payment)
    return {"storage": _new_storage(ctx, start, end_epoch, storage_amount).id, "cost": cost}


@entry("storage::split_by_epoch")
def split_by_epoch(ctx: TxContext, storage: str, split_epoch: int) -> dict[str, Any]:
    """Split [start, end) into [start, split) (kept) and [split, end) (new)."""
    obj, resource = ctx.load(Storage, storage)
    if not resource.start_epoch < split_epoch < resource.end_epoch:
        raise Abort("EInvalidSplitEpoch", "split epoch must lie strictly inside the period")
    new = _new_storage(ctx, split_epoch, resource.end_epoch, resource.storage_size)
    ctx.store(obj, replace(resource, end_epoch=Epoch(split_epoch)))
    return {"storage": new.id}


@entry("storage::split_by_size")
def split_by_size(ctx: TxContext, storage: str, split_size: int) -> dict[str, Any]:
    """Split off a resource of `storage_size − split_size` bytes; keep `split_size` (either
    part may be empty, as upstream)."""
    obj, resource = ctx.load(Storage, storage)
    if split_size > resource.storage_size:
        raise Abort(
            "EIncompatibleAmount",
            f"split size {split_size} exceeds the resource's {resource.storage_size} bytes",
        )
    rest = resource.storage_size - split_size
    new = _new_storage(ctx, resource.start_epoch, resource.end_epoch, rest)
    ctx.store(obj, replace(resource, storage_size=split_size))
    return {"storage": new.id}


@entry("storage::fuse")
def fuse(ctx: TxContext, storage: str, other: str) -> dict[str, Any]:
    """Fuse two resources: same period (sizes add) or same size and adjacent periods."""
    (first, a), (second, b) = ctx.load(Storage, storage), ctx.load(Storage, other)
    if first.id == second.id:
        raise Abort("EBadArgument", "cannot fuse a storage resource with itself")
    if (a.start_epoch, a.end_epoch) == (b.start_epoch, b.end_epoch):
        fused = replace(a, storage_size=a.storage_size + b.storage_size)
    elif a.storage_size == b.storage_size and a.end_epoch == b.start_epoch:
        fused = replace(a, end_epoch=b.end_epoch)
    elif a.storage_size == b.storage_size and b.end_epoch == a.start_epoch:
        fused = replace(a, start_epoch=b.start_epoch)
    else:
        raise Abort(
            "EIncompatibleStorage", "storage resources are neither same-period nor adjacent"
        )
    ctx.store(first, fused)
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
    epoch = system.epoch
    resource_obj, resource = ctx.load(Storage, storage)
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
    if not resource.start_epoch <= epoch < resource.end_epoch:
        raise Abort("EResourceBounds", "storage resource is not valid in the current epoch")
    needed = encoded_size(system, size)
    if resource.storage_size < needed:
        raise Abort(
            "EResourceSize", f"storage holds {resource.storage_size} bytes, the blob needs {needed}"
        )
    write_fee = pricing.write_cost(needed, system.write_price_per_unit_size)
    coin.withdraw(ctx, write_payment, write_fee)
    add_rewards(ctx, write_fee)
    ctx.delete(resource_obj)
    value = Blob(
        epoch,
        claimed,
        size,
        EncodingType.RS2,
        None,
        ObjectId(resource_obj.id),
        resource,
        deletable,
        {},
    )
    blob = ctx.create(value, ctx.sender)
    event = BlobRegistered(
        epoch, claimed, size, EncodingType.RS2, resource.end_epoch, deletable, ObjectId(blob.id)
    )
    ctx.emit(event, [blob.id])
    return {"blob": blob.id, "write_fee": write_fee}


def _certified_event(object_id: str, blob: Blob, is_extension: bool) -> BlobCertified:
    assert blob.certified_epoch is not None
    return BlobCertified(
        blob.certified_epoch,
        blob.blob_id,
        blob.end_epoch,
        blob.deletable,
        ObjectId(object_id),
        is_extension,
    )


@entry("system::certify_blob")
def certify_blob(
    ctx: TxContext, blob: str, signature: str, signers_bitmap: str, message: str
) -> dict[str, Any]:
    """Certify a registered blob with a quorum certificate over its storage confirmation."""
    from pywalrus.chain.contracts.certify import verify_confirmation

    system = system_view(ctx)
    epoch = system.epoch
    obj, value = ctx.load(Blob, blob)
    confirmation = verify_confirmation(
        system,
        _decode_b64("signature", signature),
        _decode_b64("signers bitmap", signers_bitmap),
        _decode_b64("message", message),
    )
    if confirmation.blob_id != value.blob_id:
        raise Abort("EInvalidBlobId", "the certificate is for a different blob")
    if confirmation.object_id != (obj.id if value.deletable else None):
        raise Abort(
            "EInvalidBlobPersistenceType", "certificate persistence does not match the blob"
        )
    if value.certified_epoch is not None:
        raise Abort("EBlobAlreadyCertified", "blob is already certified")
    if value.end_epoch <= epoch:
        raise Abort("EResourceBounds", "blob has expired")
    certified = replace(value, certified_epoch=epoch)
    ctx.store(obj, certified)
    ctx.emit(_certified_event(obj.id, certified, False), [obj.id])
    return {"blob": obj.id}


@entry("system::delete_blob")
def delete_blob(ctx: TxContext, blob: str) -> dict[str, Any]:
    """Delete a deletable, unexpired blob; its storage resource returns to the owner."""
    system = system_view(ctx)
    epoch = system.epoch
    obj, value = ctx.load(Blob, blob)
    if not value.deletable:
        raise Abort("EBlobNotDeletable", "a permanent blob cannot be deleted")
    if value.end_epoch <= epoch:
        raise Abort("EResourceBounds", "blob has expired")
    ctx.delete(obj)
    storage = ctx.create(value.storage, ctx.sender)
    event = BlobDeleted(
        epoch, value.blob_id, value.end_epoch, ObjectId(obj.id), value.certified_epoch is not None
    )
    ctx.emit(event, [obj.id])
    return {"storage": storage.id}


@entry("system::burn_blob")
def burn_blob(ctx: TxContext, blob: str) -> None:
    """Destroy a blob object and its storage; the data stays until it expires."""
    ctx.delete(ctx.get_mut(blob, BLOB))


def _extend(
    ctx: TxContext, system: System, object_id: str, blob: Blob, epochs: int, payment: str
) -> tuple[Blob, Frost]:
    """The blob extended by `epochs` (paid from the coin `payment`), and the cost."""
    if blob.certified_epoch is None:
        raise Abort("ENotCertified", "only a certified blob can be extended")
    end = blob.end_epoch
    if end <= system.epoch:
        raise Abort("EResourceBounds", "blob has expired")
    if epochs <= 0:
        raise Abort("EInvalidEpochsAhead", "extend by at least one epoch")
    cost = _pay_for_storage(ctx, system, blob.storage.storage_size, end, end + epochs, payment)
    extended = _with_end(blob, end + epochs)
    ctx.emit(_certified_event(object_id, extended, True), [object_id])
    return extended, cost


def _with_end(blob: Blob, end_epoch: int) -> Blob:
    return replace(blob, storage=replace(blob.storage, end_epoch=Epoch(end_epoch)))


@entry("system::extend_blob")
def extend_blob(ctx: TxContext, blob: str, extended_epochs: int, payment: str) -> dict[str, Any]:
    """Pay to keep a certified blob for `extended_epochs` more epochs."""
    system = system_view(ctx)
    obj, value = ctx.load(Blob, blob)
    extended, cost = _extend(ctx, system, obj.id, value, extended_epochs, payment)
    ctx.store(obj, extended)
    return {"blob": blob, "cost": cost}


@entry("system::extend_blob_with_resource")
def extend_blob_with_resource(ctx: TxContext, blob: str, storage: str) -> dict[str, Any]:
    """Extend with a storage resource of the same size that starts when the blob ends."""
    system = system_view(ctx)
    obj, value = ctx.load(Blob, blob)
    resource_obj, resource = ctx.load(Storage, storage)
    if value.certified_epoch is None:
        raise Abort("ENotCertified", "only a certified blob can be extended")
    if value.end_epoch <= system.epoch:
        raise Abort("EResourceBounds", "blob has expired")
    if (
        resource.storage_size != value.storage.storage_size
        or resource.start_epoch != value.end_epoch
    ):
        raise Abort(
            "EIncompatibleStorage", "resource must have the blob's size and start at its end"
        )
    extended = _with_end(value, resource.end_epoch)
    ctx.store(obj, extended)
    ctx.delete(resource_obj)
    ctx.emit(_certified_event(obj.id, extended, True), [obj.id])
    return {"blob": obj.id}


def _change_attributes(
    ctx: TxContext, blob: str, change: Callable[[Mapping[str, str]], dict[str, str]]
) -> None:
    obj, value = ctx.load(Blob, blob)
    ctx.store(obj, replace(value, attributes=change(value.attributes)))


@entry("blob::set_attribute")
def set_attribute(ctx: TxContext, blob: str, key: str, value: str) -> None:
    """Insert or update one attribute (`walrus::metadata` pair) of a blob."""
    _change_attributes(ctx, blob, lambda attributes: {**attributes, key: value})


@entry("blob::remove_attribute")
def remove_attribute(ctx: TxContext, blob: str, key: str) -> None:
    """Remove one attribute if present."""
    _change_attributes(
        ctx, blob, lambda attributes: {k: v for k, v in attributes.items() if k != key}
    )


@entry("blob::remove_attributes")
def remove_attributes(ctx: TxContext, blob: str) -> None:
    """Remove all attributes of a blob."""
    _change_attributes(ctx, blob, lambda attributes: {})


@entry("shared_blob::new")
def share_blob(
    ctx: TxContext, blob: str, payment: str | None = None, amount: int = 0
) -> dict[str, Any]:
    """Wrap a blob into a shared object anyone can fund and extend (and nobody can delete)."""
    obj, value = ctx.load(Blob, blob)
    funds = coin.withdraw(ctx, payment, amount) if payment is not None else Frost(0)
    ctx.delete(obj)
    shared = ctx.create(SharedBlob(ObjectId(obj.id), value, funds), SHARED)
    return {"shared_blob": shared.id}


@entry("shared_blob::fund")
def fund_shared_blob(ctx: TxContext, shared_blob: str, payment: str, amount: int) -> None:
    """Add WAL to a shared blob's funds."""
    obj, shared = ctx.load(SharedBlob, shared_blob)
    added = coin.withdraw(ctx, payment, amount)
    ctx.store(obj, replace(shared, funds=Frost(shared.funds + added)))


@entry("shared_blob::extend")
def extend_shared_blob(ctx: TxContext, shared_blob: str, extended_epochs: int) -> dict[str, Any]:
    """Extend a shared blob, paying from its funds."""
    system = system_view(ctx)
    obj, shared = ctx.load(SharedBlob, shared_blob)
    size = shared.blob.storage.storage_size
    cost = pricing.storage_cost(size, system.storage_price_per_unit_size, extended_epochs)
    if shared.funds < cost:
        raise Abort("EInsufficientFunds", f"shared blob holds {shared.funds}, needs {cost}")
    # Pay through a transient coin so that the accounting path is the one of extend_blob.
    payer = coin.new_coin(ctx, ctx.sender, cost)
    extended, _ = _extend(ctx, system, shared.object_id, shared.blob, extended_epochs, payer.id)
    ctx.store(obj, replace(shared, blob=extended, funds=Frost(shared.funds - cost)))
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
    ctx.emit(InvalidBlobID(system.epoch, blob_id))
    return {"blob_id": str(blob_id)}


@entry("system::migrate_accounting")
def migrate_accounting(ctx: TxContext) -> None:
    """Move the accounting ring of a chain created before `walrus::FutureAccounting` existed
    out of the system object into its own singleton (run by the chain at start-up)."""
    ctx.require_chain()
    obj, system = system_state(ctx)
    ring = system.future_accounting
    if ring is None:
        raise Abort("EAlreadyMigrated", "the accounting ring already has its own object")
    ctx.store(obj, replace(system, future_accounting=None))
    ctx.create(FutureAccounting(ring), SHARED, singleton=True)


def needs_accounting_migration(system: Object, accounting_id: str | None) -> bool:
    return accounting_id is None and System.from_object(system).future_accounting is not None


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
    system = System(
        epoch=Epoch(0),
        n_shards=n_shards,
        max_epochs_ahead=max_epochs_ahead,
        total_capacity_size=0,
        storage_price_per_unit_size=Frost(storage_price),
        write_price_per_unit_size=Frost(write_price),
        committee=SystemCommittee(Epoch(0), n_shards, ()),
        previous_committee=None,
    )
    created = ctx.create(system, SHARED, singleton=True)
    ring = tuple(AccountingEntry(Epoch(e), 0, Frost(0)) for e in range(max_epochs_ahead))
    ctx.create(FutureAccounting(ring), SHARED, singleton=True)
    return created
