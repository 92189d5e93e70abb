"""`WalrusClient`: store and read blobs on a Walrus network.

Storing encodes the blob, buys storage and registers the blob in one chain transaction, uploads
the metadata and each node's slivers to every member of the current committee in parallel
(bounded concurrency, retries), gathers signed storage confirmations until they cover a quorum
of shards (then waits briefly for stragglers), aggregates them into a certificate and certifies
the blob on chain. Reading fetches metadata from nodes and checks it against the blob ID, then
fetches and verifies primary slivers until n − 2f are in hand, decodes, and runs the
consistency check. No node is trusted: every byte is verified before use.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from pywalrus.chain.client import ChainClient
from pywalrus.chain.objects import Object
from pywalrus.chain.tx import Call
from pywalrus.chain.wallet import Wallet
from pywalrus.client.blob_objects import BlobOps, blob_object_json, execute_paying, pay_coin
from pywalrus.client.config import ClientConfig
from pywalrus.client.confirmations import Confirmations
from pywalrus.client.status import (
    DEFAULT_TIMEOUT_S as STATUS_TIMEOUT_S,
)
from pywalrus.client.status import VerifiedStatus, verified_status
from pywalrus.client.store_plan import ChainTime, StorePlan, epochs_ahead
from pywalrus.client.upload_relay import UploadRelayClient
from pywalrus.core.accounts import Account
from pywalrus.core.certificates import Certificate
from pywalrus.core.config import is_quorum, quorum_weight
from pywalrus.core.decoding import ConsistencyCheck, decode_blob
from pywalrus.core.encoding import EncodedBlob, encode_blob
from pywalrus.core.errors import (
    BlobNotFound,
    BlobStatusUnknown,
    ChainError,
    NodeError,
    NotEnoughConfirmations,
    NotEnoughSlivers,
    StoreRefused,
    UploadRelayError,
    WalrusError,
)
from pywalrus.core.messages import PERMANENT, Deletable, StorageConfirmation
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import (
    Sliver,
    decode_sliver_batch,
    encode_sliver_batch,
    verify_slivers,
)
from pywalrus.core.types import BlobId, Epoch, ShardIndex, SliverPairIndex, SliverType
from pywalrus.network.committee import CommitteeView, NodeMember, committee_from
from pywalrus.network.fetch import fetch_verified_metadata
from pywalrus.network.node_client import NodeClient

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stages `encoding`, `registering`, `uploading`, `certifying`,
`metadata`, `slivers`, `decoding`."""


def _no_progress(stage: str, done: int, total: int) -> None:
    del stage, done, total


@dataclass(frozen=True)
class StoreOptions:
    """How to store a blob."""

    epochs: int | Literal["max"] | None = 1
    """Epochs ahead to store for (from the current epoch), or `"max"`: the system's limit."""
    end_epoch: int | None = None
    """Alternatively the exclusive end epoch."""
    earliest_expiry_ms: int | None = None
    """Alternatively the earliest time (ms since the Unix epoch) it may expire."""
    deletable: bool = True
    """Deletable (the default since Walrus 1.33) or permanent."""
    force: bool = False
    """Store even if the blob is already certified for long enough."""
    dry_run: bool = False
    """Only encode and price; change nothing."""
    share: bool = False
    """Wrap the blob into a shared object anyone can fund and extend (permanent only)."""
    upload_relay: str | None = None
    """Send the blob to this upload relay (base URL), which sends the slivers to the nodes,
    rather than to the nodes directly; its tip is paid and its certificate checked."""


@dataclass(frozen=True)
class PendingRegistration:
    """A blob registered and paid for whose store has not finished (failed or interrupted)."""

    blob_id: str
    """Its blob ID."""
    object_id: str
    """The registered Blob object."""
    end_epoch: int
    """The end epoch it was registered until."""
    paid: int
    """FROST paid for it by the unfinished store (0 when a registration was reused)."""

    def describe(self) -> str:
        return (
            f"blob {self.blob_id} stays registered as object {self.object_id} until epoch "
            f"{self.end_epoch} ({self.paid} FROST paid); storing the same data again with the "
            "same options reuses this registration"
        )


COMMITTEE_TTL_S = 30.0
"""How long a client trusts the committee members (names, addresses) it read."""
UPLOAD_BATCH_BYTES = 4 * 1024 * 1024
"""Slivers for one node go in batches of about this size: one request per sliver costs more
than the node's check of a small sliver, and a few large batches keep the node's cores busy."""
UPLOAD_BYTES_IN_FLIGHT = 32 * 1024 * 1024
"""Bytes of sliver batches being built and sent at once during a store (at least two
batches): each costs a copy of its slivers on top of the encoded blob."""
READ_TIMEOUT_S = 5.0
READ_RATE = 4 * 1024 * 1024
"""A read request may take `READ_TIMEOUT_S` plus a second per `READ_RATE` bytes it carries;
a node slower than that is treated as down for the rest of the read (its slivers are taken
from others), so one hung node costs a read seconds, not the session's two minutes."""
READ_BYTES_IN_FLIGHT = 32 * 1024 * 1024
"""Bytes of large slivers fetched at once during a read (at least four slivers): it bounds
the copies in flight, while keeping every node busy."""


def lacks_route(error: NodeError) -> bool:
    """True if a node answered that it has no such route (not: no such blob or sliver)."""
    return error.status == 405 or (error.status == 404 and error.reason in ("NOT_FOUND", "UNKNOWN"))


SliverRef = tuple[int, SliverType]
"""(pair index, axis): one sliver to upload, materialised only when its batch is sent."""


def upload_batches(slivers: list[SliverRef], sizes: dict[SliverType, int]) -> list[list[SliverRef]]:
    """Group sliver uploads into batches of at most `UPLOAD_BATCH_BYTES` of symbols, given the
    bytes of one sliver of each axis."""
    batches: list[list[SliverRef]] = []
    size = UPLOAD_BATCH_BYTES
    for entry in slivers:
        length = sizes[entry[1]]
        if size + length > UPLOAD_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += length
    return batches


def certificate_args(certificate: Certificate, n_members: int) -> dict[str, str]:
    """`system::certify_blob`'s certificate arguments (base64) for a committee of
    `n_members`."""
    return {
        "signature": base64.b64encode(certificate.signature.to_bytes()).decode(),
        "signers_bitmap": base64.b64encode(certificate.signers_bitmap(n_members)).decode(),
        "message": base64.b64encode(certificate.serialized_message).decode(),
    }


class WalrusClient:
    """An async Walrus client bound to a configuration and a wallet."""

    def __init__(
        self,
        config: ClientConfig,
        wallet: Wallet | None = None,
        progress: Progress | None = None,
        upload_concurrency: int = 32,
        read_concurrency: int = 16,
    ) -> None:
        self.config = config
        self._wallet = wallet
        self.progress = progress or _no_progress
        self.upload_concurrency = upload_concurrency
        self.read_concurrency = read_concurrency
        self._no_batch_route: set[str] = set()
        self._committee: tuple[tuple[int, str], float, CommitteeView] | None = None
        """Nodes (by URL) that lack the sliver batch route: upstream nodes."""
        self.chain = ChainClient(config.chain_url)
        self._session: aiohttp.ClientSession | None = None
        self.reuse_resources = True
        """Reuse owned registrations and storage for stores (upstream without
        `--ignore-resources`)."""
        self.unfinished: PendingRegistration | None = None
        """The registration of the last store, while that store has not finished."""

    async def __aenter__(self) -> WalrusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.chain.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def account(self) -> Account:
        if self._wallet is None:
            self._wallet = self.config.wallet()
        return self._wallet.active

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=120, connect=5),
                connector=aiohttp.TCPConnector(limit=128),
            )
        return self._session

    def node(self, member: NodeMember) -> NodeClient:
        return NodeClient(member.url, self._http())

    async def committee(self) -> CommitteeView:
        """The current committee (and the previous one during an epoch change)."""
        return (await self._chain_state())[0]

    async def _chain_state(self) -> tuple[CommitteeView, dict[str, Any], dict[str, Any]]:
        """The current committee and the system and staking objects' fields.

        Its members, which take a read per node, are read again when the system object
        (committee, epoch, prices) has changed, an epoch change has started or ended, or
        `COMMITTEE_TTL_S` have passed (a node may have moved to another address).
        """
        system = await self.chain.singleton("walrus::System")
        staking = await self.chain.singleton("walrus::Staking")
        key = (system.version, staking.fields["epoch_state"]["kind"])
        now = time.monotonic()
        cached = self._committee
        if cached is None or cached[0] != key or now - cached[1] > COMMITTEE_TTL_S:
            cached = self._committee = (key, now, await committee_from(self.chain, system, staking))
        return cached[2], system.fields, staking.fields

    # Store -----------------------------------------------------------------------------------

    async def plan_store(self, options: StoreOptions | None = None) -> StorePlan:
        """How stores with `options` would go (lifetime, limits, prices), checked against the
        chain before anything is paid: `StoreRefused` names a lifetime that cannot be."""
        return (await self._plan(options or StoreOptions()))[1]

    async def _plan(self, options: StoreOptions) -> tuple[CommitteeView, StorePlan]:
        if options.share and options.deletable:
            raise StoreRefused("only permanent blobs can be shared (use --permanent with --share)")
        committee, system, staking = await self._chain_state()
        now_ms = 0
        if options.earliest_expiry_ms is not None and options.end_epoch is None:
            now_ms = int((await self.chain.info())["timeMs"])
        ahead = epochs_ahead(
            ChainTime.from_chain(system, staking, now_ms),
            options.epochs,
            options.end_epoch,
            options.earliest_expiry_ms,
        )
        plan = StorePlan(
            committee.epoch,
            ahead,
            committee.encoding,
            system["storage_price_per_unit_size"],
            system["write_price_per_unit_size"],
        )
        return committee, plan

    async def store(self, data: bytes, options: StoreOptions | None = None) -> dict[str, Any]:
        """Store a blob; returns `{"newlyCreated": …}` or `{"alreadyCertified": …}` (or, for a
        dry run, `{"dryRun": …}`).

        If the store fails or is interrupted after the blob was registered, `unfinished`
        says what stays registered; storing the same data again reuses it.
        """
        options = options or StoreOptions()
        self.unfinished = None
        committee, plan = await self._plan(options)
        end_epoch = plan.end_epoch
        self.progress("encoding", 0, 1)
        encoded = await asyncio.to_thread(encode_blob, data, committee.encoding)
        self.progress("encoding", 1, 1)
        length = len(data)
        # The slivers hold the blob from here on: without the caller's copy (when the caller
        # passed its bytes along, as the CLI does) the upload holds it once, not twice. An
        # upload relay takes the bytes themselves.
        relay_data = data if options.upload_relay is not None else b""
        del data
        encoded_length = committee.encoding.encoded_length(length)
        cost = plan.cost(length)
        if options.dry_run:
            return {
                "dryRun": {
                    "blobId": str(encoded.blob_id),
                    "unencodedSize": length,
                    "encodedSize": encoded_length,
                    "storageCost": cost,
                    "encodingType": "RS2",
                }
            }
        if not options.force:
            existing = await self._already_certified(encoded.blob_id, end_epoch, options.deletable)
            if existing is not None:
                return {"alreadyCertified": existing}
        blob, operation, paid = await self._register(encoded, options, end_epoch, encoded_length)
        self.unfinished = pending = PendingRegistration(
            str(encoded.blob_id), blob.id, blob.fields["storage"]["end_epoch"], paid
        )
        object_id = blob.id if options.deletable else None
        for attempt in range(2):
            try:
                if options.upload_relay is None:
                    certificate = await self._upload(committee, encoded, object_id)
                else:
                    certificate = await self._upload_via_relay(
                        options.upload_relay, committee, relay_data, encoded.blob_id, object_id
                    )
            except NotEnoughConfirmations as exc:
                raise NotEnoughConfirmations(f"{exc}; {pending.describe()}") from None
            except UploadRelayError as exc:
                raise UploadRelayError(f"{exc}; {pending.describe()}", exc.status) from None
            self.progress("certifying", 0, 1)
            try:
                await self._certify(blob.id, certificate)
                break
            except ChainError as exc:
                # The epoch changed during the upload: the certificate of the old committee is
                # refused; the new committee stores and confirms the blob once more.
                fresh = await self.committee()
                if attempt or exc.reason != "EInvalidCertificate" or fresh.epoch == committee.epoch:
                    raise
                committee = fresh
        del encoded, relay_data
        self.progress("certifying", 1, 1)
        certified = await self.chain.get_object(blob.id)
        assert certified is not None
        result: dict[str, Any] = {
            "blobObject": blob_object_json(certified),
            "resourceOperation": operation,
            "cost": paid,
        }
        if options.share:
            shared = await self.chain.execute(
                self.account, [Call("shared_blob::new", {"blob": blob.id})]
            )
            result["sharedBlobObject"] = shared["effects"]["results"][0]["shared_blob"]
        self.unfinished = None
        return {"newlyCreated": result}

    async def register(
        self, data: bytes, options: StoreOptions | None = None
    ) -> PendingRegistration:
        """Encode and register a blob (buying storage, or reusing the wallet's), sending
        nothing to the nodes: the first half of a store, which a client of an upload relay
        (or anyone uploading by other means) does itself, as upstream's
        `reserve_and_register_blobs`."""
        options = options or StoreOptions()
        committee, plan = await self._plan(options)
        encoded = await asyncio.to_thread(encode_blob, data, committee.encoding)
        encoded_length = committee.encoding.encoded_length(len(data))
        blob, _, paid = await self._register(encoded, options, plan.end_epoch, encoded_length)
        end_epoch = blob.fields["storage"]["end_epoch"]
        return PendingRegistration(str(encoded.blob_id), blob.id, end_epoch, paid)

    async def _certify(self, blob: str, certificate: dict[str, str]) -> None:
        await self.chain.execute(
            self.account,
            [
                Call(
                    "system::certify_blob",
                    {
                        "blob": blob,
                        "signature": certificate["signature"],
                        "signers_bitmap": certificate["signers_bitmap"],
                        "message": certificate["message"],
                    },
                )
            ],
        )

    async def _already_certified(
        self, blob_id: BlobId, end_epoch: int, deletable: bool
    ) -> dict[str, Any] | None:
        """An owned certified Blob object lasting long enough, or a verified permanent one."""
        for obj in await self.chain.owned_objects(self.account.address, "walrus::Blob"):
            f = obj.fields
            if (
                f["blob_id"] == str(blob_id)
                and f["certified_epoch"] is not None
                and f["storage"]["end_epoch"] >= end_epoch
                and f["deletable"] == deletable
            ):
                return {
                    "blobId": str(blob_id),
                    "object": obj.id,
                    "endEpoch": f["storage"]["end_epoch"],
                }
        if deletable:
            return None
        try:
            status = await self.blob_status(blob_id)
        except BlobStatusUnknown:
            return None  # not known to be certified: store it
        permanent = status.get("permanent") if isinstance(status, dict) else None
        if permanent and permanent["isCertified"] and permanent["endEpoch"] >= end_epoch:
            return {
                "blobId": str(blob_id),
                "event": permanent["statusEvent"],
                "endEpoch": permanent["endEpoch"],
            }
        return None

    async def _pay_coin(self, amount: int) -> str:
        return await pay_coin(self.chain, self.account, amount)

    async def _owned(self, type_: str) -> list[Object]:
        """The account's objects of `type_` a store may reuse (none with `reuse_resources`
        off, as upstream's `--ignore-resources`)."""
        if not self.reuse_resources:
            return []
        return await self.chain.owned_objects(self.account.address, type_)

    async def _register(
        self, encoded: EncodedBlob, options: StoreOptions, end_epoch: int, encoded_length: int
    ) -> tuple[Object, dict[str, Any], int]:
        """Reuse a registration or storage the wallet owns, or buy storage and register."""
        self.progress("registering", 0, 1)
        owned = await self._owned("walrus::Blob")
        for obj in owned:
            f = obj.fields
            if (
                f["blob_id"] == str(encoded.blob_id)
                and f["certified_epoch"] is None
                and f["deletable"] == options.deletable
                and f["storage"]["end_epoch"] >= end_epoch
            ):
                self.progress("registering", 1, 1)
                return obj, {"reuseRegistration": {"encodedLength": encoded_length}}, 0
        metadata = encoded.metadata
        register = {
            "blob_id": str(encoded.blob_id),
            "root_hash": metadata.root_hash().hex(),
            "size": metadata.unencoded_length,
            "encoding_type": 1,
            "deletable": options.deletable,
        }
        epoch = (await self.chain.singleton("walrus::System")).fields["epoch"]
        storages = await self._owned("walrus::Storage")
        reusable = [
            s
            for s in storages
            if s.fields["storage_size"] >= encoded_length
            and s.fields["start_epoch"] <= epoch
            and s.fields["end_epoch"] >= end_epoch
        ]
        system = (await self.chain.singleton("walrus::System")).fields
        units = -(-encoded_length // (1 << 20))
        write_fee = system["write_price_per_unit_size"] * units
        if reusable:
            storage = min(reusable, key=lambda s: s.fields["storage_size"])
            coin = await self._pay_coin(write_fee)
            result = await execute_paying(
                self.chain,
                self.account,
                [
                    Call(
                        "system::register_blob",
                        {**register, "storage": storage.id, "write_payment": coin},
                    )
                ],
            )
            blob_id = result["effects"]["results"][0]["blob"]
            operation = {"reuseStorage": {"encodedLength": encoded_length}}
            paid = write_fee
        else:
            storage_fee = system["storage_price_per_unit_size"] * units * (end_epoch - epoch)
            coin = await self._pay_coin(storage_fee + write_fee)
            result = await execute_paying(
                self.chain,
                self.account,
                [
                    Call(
                        "system::reserve_space_for_epochs",
                        {
                            "storage_amount": encoded_length,
                            "start_epoch": epoch,
                            "end_epoch": end_epoch,
                            "payment": coin,
                        },
                    ),
                    Call(
                        "system::register_blob",
                        {
                            **register,
                            "storage": {"$result": [0, "storage"]},
                            "write_payment": coin,
                        },
                    ),
                ],
            )
            blob_id = result["effects"]["results"][1]["blob"]
            operation = {
                "registerFromScratch": {
                    "encodedLength": encoded_length,
                    "epochsAhead": end_epoch - epoch,
                }
            }
            paid = storage_fee + write_fee
        blob = await self.chain.get_object(blob_id)
        assert blob is not None
        self.progress("registering", 1, 1)
        return blob, operation, paid

    async def _upload(
        self, committee: CommitteeView, encoded: EncodedBlob, object_id: str | None
    ) -> dict[str, str]:
        """Upload to every member; return certificate arguments once a quorum confirmed."""
        certificate = await self.send_blob_data(committee, encoded, object_id)
        return certificate_args(certificate, len(committee.members))

    async def _upload_via_relay(
        self,
        url: str,
        committee: CommitteeView,
        data: bytes,
        blob_id: BlobId,
        object_id: str | None,
    ) -> dict[str, str]:
        """Store through an upload relay; certificate arguments once its certificate
        verified against `committee`."""
        relay = UploadRelayClient(url, self._http(), self.chain, lambda: self.account)
        self.progress("uploading", 0, 1)
        certificate = await relay.store(committee, data, blob_id, object_id)
        self.progress("uploading", 1, 1)
        return certificate_args(certificate, len(committee.members))

    async def send_blob_data(
        self, committee: CommitteeView, encoded: EncodedBlob, object_id: str | None
    ) -> Certificate:
        """Send the metadata and each member's slivers to every member of `committee`; the
        certificate of their confirmations once they cover a quorum of shards (upstream's
        `send_blob_data_and_get_certificate`: an upload relay's whole job). `object_id` is
        the deletable Blob object, None for a permanent blob. `NotEnoughConfirmations` if
        too few members confirmed."""
        blob_id = encoded.blob_id
        config = committee.encoding
        metadata = encoded.metadata.to_bcs()
        persistence = Deletable(bytes.fromhex(object_id[2:])) if object_id else PERMANENT
        expected = StorageConfirmation(Epoch(committee.epoch), blob_id, persistence).to_bytes()
        limit = asyncio.Semaphore(self.upload_concurrency)
        batches_in_flight = asyncio.Semaphore(max(2, UPLOAD_BYTES_IN_FLIGHT // UPLOAD_BATCH_BYTES))
        sizes = {
            axis: config.sliver_size(axis, encoded.metadata.unencoded_length) for axis in SliverType
        }
        total = sum(2 * len(m.shards) for m in committee.members)
        uploaded = 0
        confirmations = Confirmations(committee, expected)
        quorum_reached = asyncio.Event()
        self.progress("uploading", 0, total)

        async def retry(action: Any, attempts: int = 3) -> Any:
            for attempt in range(attempts):
                try:
                    async with limit:
                        return await action()
                except NodeError as exc:
                    # A refusal, or a node that is not listening, will not change on retry.
                    final = exc.status in (400, 403, 404, 451) or exc.reason == "CONNECTION_REFUSED"
                    if attempt == attempts - 1 or final:
                        raise
                    await asyncio.sleep(0.2 * 2**attempt)
            return None

        async def to_node(member: NodeMember) -> None:
            nonlocal uploaded
            client = self.node(member)
            await retry(lambda: client.put_metadata(blob_id, metadata))

            def slivers(batch: list[SliverRef]) -> list[tuple[int, Sliver]]:
                return [
                    (pair, encoded.sliver(axis, config.sliver_index(axis, SliverPairIndex(pair))))
                    for pair, axis in batch
                ]

            async def send(batch: list[SliverRef]) -> None:
                # Bodies are built when their turn comes (inside `retry`'s limit), so a store
                # holds the encoded blob and the batches in flight, not a copy of every sliver.
                nonlocal uploaded
                if len(batch) > 1 and member.url not in self._no_batch_route:
                    try:
                        async with batches_in_flight:
                            await retry(
                                lambda: client.put_slivers(
                                    blob_id, encode_sliver_batch(slivers(batch))
                                )
                            )
                    except NodeError as exc:
                        if not lacks_route(exc):
                            raise
                        # A node without the batch route (upstream): one PUT per sliver.
                        self._no_batch_route.add(member.url)
                        await asyncio.gather(*(send([entry]) for entry in batch))
                        return
                else:
                    for entry in batch:
                        await retry(
                            lambda e=entry: client.put_sliver(
                                blob_id, e[0], e[1], slivers([e])[0][1].to_bcs()
                            )
                        )
                uploaded += len(batch)
                self.progress("uploading", uploaded, total)

            refs = [
                (int(config.pair_for_shard(ShardIndex(shard), blob_id)), axis)
                for shard in member.shards
                for axis in SliverType
            ]
            await asyncio.gather(*(send(batch) for batch in upload_batches(refs, sizes)))
            signed = await retry(lambda: client.get_confirmation(blob_id, object_id))
            confirmations.add(member, signed)
            if confirmations.has_quorum:
                quorum_reached.set()

        async def guarded(member: NodeMember) -> None:
            with contextlib.suppress(NodeError):
                await to_node(member)

        tasks = [asyncio.create_task(guarded(m)) for m in committee.members]
        start = time.monotonic()
        all_done = asyncio.create_task(asyncio.wait(tasks))
        waiter = asyncio.create_task(quorum_reached.wait())
        try:
            await asyncio.wait([all_done, waiter], return_when=asyncio.FIRST_COMPLETED)
            if quorum_reached.is_set() and not all_done.done():
                # Give stragglers a little more time, as upstream (0.5 × elapsed + 0.5 s).
                extra = 0.5 * (time.monotonic() - start) + 0.5
                await asyncio.wait([all_done], timeout=extra)
        finally:
            # Also when the store itself is cancelled (Ctrl-C): no upload may outlive it and
            # run into the closed session.
            for task in (waiter, all_done, *tasks):
                task.cancel()
            await asyncio.gather(waiter, all_done, *tasks, return_exceptions=True)
        confirmations.settle()
        if not confirmations.has_quorum:
            raise NotEnoughConfirmations(
                f"nodes holding {confirmations.weight} of {committee.n_shards} shards confirmed "
                f"storing the blob; {quorum_weight(committee.n_shards)} are needed"
            )
        return confirmations.certificate()

    # Read ------------------------------------------------------------------------------------

    async def read(
        self, blob_id: BlobId, check: ConsistencyCheck = ConsistencyCheck.DEFAULT
    ) -> bytes:
        """Fetch, verify and decode a blob."""
        committee = await self.committee()
        metadata = await self._read_metadata(committee, blob_id)
        slivers = await self._read_slivers(committee, blob_id, metadata)
        self.progress("decoding", 0, 1)
        data = await asyncio.to_thread(decode_blob, slivers, metadata, blob_id, check)
        self.progress("decoding", 1, 1)
        return data

    async def _read_metadata(self, committee: CommitteeView, blob_id: BlobId) -> BlobMetadata:
        config = committee.encoding
        self.progress("metadata", 0, 1)
        timeout = READ_TIMEOUT_S + config.metadata_length * config.n_shards / READ_RATE
        metadata = await fetch_verified_metadata(committee, blob_id, self.node, timeout=timeout)
        self.progress("metadata", 1, 1)
        return metadata

    async def _read_slivers(
        self, committee: CommitteeView, blob_id: BlobId, metadata: BlobMetadata
    ) -> list[Sliver]:
        config = committee.encoding
        needed = config.n_primary_source_symbols
        # Systematic slivers (pairs < R) first: they are the blob's bytes themselves.
        pairs = list(range(config.n_shards))
        systematic, rest = pairs[:needed], pairs[needed:]
        random.shuffle(rest)
        queue = systematic + rest
        good: dict[int, Sliver] = {}
        sliver_size = config.sliver_size(SliverType.PRIMARY, metadata.unencoded_length)
        # Large slivers are verified one by one as they arrive (overlapping the downloads),
        # with at most about READ_BYTES_IN_FLIGHT of them on the way, which bounds the
        # transient memory of a large read; small ones in two batches afterwards, which saves
        # per-sliver overhead.
        large = sliver_size >= 1 << 18
        in_flight = max(4, READ_BYTES_IN_FLIGHT // sliver_size) if large else needed
        limit = asyncio.Semaphore(max(self.read_concurrency, min(needed, in_flight)))
        not_found = 0
        slow: set[str] = set()
        """Nodes that did not answer in time: asked no more during this read."""
        timeout = READ_TIMEOUT_S + sliver_size / READ_RATE
        self.progress("slivers", 0, needed)

        async def fetch(pair: int) -> Sliver | None:
            """The pair's primary sliver from its shard's owner or, during an epoch change,
            from the shard's previous owner (the new one may still be syncing it)."""
            nonlocal not_found
            owners = committee.read_owners(config.shard_for_pair(SliverPairIndex(pair), blob_id))
            missing = 0
            async with limit:
                for member in owners:
                    if member.url in slow:
                        continue
                    try:
                        sliver = await self.node(member).read_sliver(
                            blob_id, pair, SliverType.PRIMARY, sliver_size, timeout
                        )
                        if large:
                            await asyncio.to_thread(sliver.verify, metadata)
                    except NodeError as exc:
                        missing += exc.status in (404, 451)
                        if exc.reason == "TIMEOUT":
                            slow.add(member.url)
                        continue
                    except WalrusError:
                        continue  # malformed or unverifiable: ignore this node's answer
                    if sliver.index == pair:
                        return sliver
            if missing == len(owners):
                not_found += 1
            return None

        async def fetch_batch(member: NodeMember, pairs: list[int]) -> list[Sliver]:
            """Small primary slivers from one node in one request; what it lacks it omits."""
            if member.url in self._no_batch_route or member.url in slow:
                return []
            try:
                async with limit:
                    data = await self.node(member).get_slivers(
                        blob_id,
                        SliverType.PRIMARY,
                        pairs,
                        timeout + len(pairs) * sliver_size / READ_RATE,
                    )
                batch = decode_sliver_batch(data)
            except NodeError as exc:
                if lacks_route(exc):
                    self._no_batch_route.add(member.url)  # an upstream node
                if exc.reason == "TIMEOUT":
                    slow.add(member.url)
                return []
            except WalrusError:
                return []  # malformed: ask for these slivers one by one
            wanted = set(pairs)
            return [
                sliver
                for pair, sliver in batch
                if pair in wanted and sliver.axis is SliverType.PRIMARY and sliver.index == pair
            ]

        async def fetch_small(pairs: list[int]) -> list[Sliver]:
            """One batch request per owner, then one request per sliver still missing."""
            by_owner: dict[str, tuple[NodeMember, list[int]]] = {}
            for pair in pairs:
                owner = committee.owner(config.shard_for_pair(SliverPairIndex(pair), blob_id))
                by_owner.setdefault(owner.url, (owner, []))[1].append(pair)
            answers = await asyncio.gather(*(fetch_batch(m, ps) for m, ps in by_owner.values()))
            got = {int(sliver.index): sliver for answer in answers for sliver in answer}
            rest = await asyncio.gather(*(fetch(p) for p in pairs if p not in got))
            return list(got.values()) + [sliver for sliver in rest if sliver]

        def verify(slivers: list[Sliver]) -> list[bool]:
            return verify_slivers(slivers, metadata)

        # Ask for exactly the slivers still needed, verify them in two batched halves (the
        # hashing runs without the GIL), then widen to other slivers for those that failed.
        position = 0
        while len(good) < needed and position < len(queue):
            batch = queue[position : position + (needed - len(good))]
            position += len(batch)
            if large:
                fetched = [s for s in await asyncio.gather(*(fetch(p) for p in batch)) if s]
                good.update((int(s.index), s) for s in fetched)
                fetched = []
            else:
                fetched = await fetch_small(batch)
            halves = [fetched[: len(fetched) // 2], fetched[len(fetched) // 2 :]]
            checks = await asyncio.gather(*(asyncio.to_thread(verify, h) for h in halves if h))
            for half, ok in zip([h for h in halves if h], checks, strict=True):
                for sliver, valid in zip(half, ok, strict=True):
                    if valid:
                        good[int(sliver.index)] = sliver
            self.progress("slivers", min(len(good), needed), needed)
        if len(good) < needed:
            if is_quorum(not_found, config.n_shards):
                raise BlobNotFound(f"blob {blob_id} does not exist or has expired")
            raise NotEnoughSlivers(
                f"only {len(good)} of the {needed} primary slivers needed could be verified"
            )
        return [good[p] for p in sorted(good)][:needed]

    # Status ----------------------------------------------------------------------------------

    def blobs(self) -> BlobOps:
        """Blob object management for this client's wallet."""
        return BlobOps(self.chain, self.account)

    async def verified_blob_status(
        self, blob_id: BlobId, timeout: float = STATUS_TIMEOUT_S
    ) -> VerifiedStatus:
        """The blob's status on upstream's rule (`pywalrus.client.status`), each node asked
        for at most `timeout` seconds; `BlobStatusUnknown` if too few answered."""
        committee = await self.committee()
        return await verified_status(
            committee, self.node, self.chain, blob_id, timeout, self.config.chain_address
        )

    async def blob_status(self, blob_id: BlobId, timeout: float = STATUS_TIMEOUT_S) -> Any:
        """The blob's status (upstream's `BlobStatus` JSON); `BlobStatusUnknown` if too few
        nodes answered to trust one."""
        return (await self.verified_blob_status(blob_id, timeout)).status
