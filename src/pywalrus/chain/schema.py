"""The typed shape of every object the contracts keep and every event they emit.

On chain, an object's content is JSON (`Object.fields`) and so is an event's; their names and
value shapes are a public interface (`docs/chain-rpc.md`), read by our SDK and nodes and by
other programs. Each class here is one of those shapes: `from_fields` reads the JSON (and
`from_object` / `from_event` check the type tag first), `to_fields` writes exactly the JSON the
chain stores, so `X.from_object(o).to_fields() == o.fields` for everything the contracts make.
Fields added to a type after chains were created are read with their documented default when
absent (see `StakingPool`). Most classes are plain records (`Record`): their JSON keys are
their fields, in order, converted by type; the others spell out their shape.

JSON turns integers used as map keys into decimal strings (`{"3": …}`); the classes hold them
as integers and write them back as strings, in the same order. Lists become tuples, so a
value read here cannot be changed in place: a contract builds a new one (`dataclasses.replace`)
and stores that.
"""

from __future__ import annotations

import enum
import operator
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any, ClassVar, Protocol, Self, cast, get_args, get_origin, get_type_hints

from pywalrus.core.errors import SchemaError
from pywalrus.core.types import (
    Address,
    BlobId,
    EncodingType,
    Epoch,
    Frost,
    ObjectId,
    ShardIndex,
)

# Type tags ------------------------------------------------------------------------------------

COIN = "wal::Coin"
TREASURY = "wal::Treasury"
SYSTEM = "walrus::System"
FUTURE_ACCOUNTING = "walrus::FutureAccounting"
STAKING = "walrus::Staking"
STAKING_POOL = "walrus::StakingPool"
STORAGE_NODE_CAP = "walrus::StorageNodeCap"
STAKED_WAL = "walrus::StakedWal"
STORAGE = "walrus::Storage"
BLOB = "walrus::Blob"
SHARED_BLOB = "walrus::SharedBlob"


class Typed(Protocol):
    """Anything with a type tag and JSON fields: an `Object`, an `Event`, an emitted event."""

    @property
    def type(self) -> str: ...

    @property
    def fields(self) -> Mapping[str, Any]: ...


Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]
"""(JSON value → field value, field value → JSON value)."""


def _codec(hint: Any) -> Codec | None:
    """How a field of type `hint` is read from and written as JSON; None: as it is (numbers,
    strings, booleans, ID and amount newtypes, plain mappings)."""
    if isinstance(hint, types.UnionType):
        (inner,) = (arg for arg in get_args(hint) if arg is not type(None))
        codec = _codec(inner)
        if codec is None:
            return None
        decode, encode = codec
        return (
            lambda value: None if value is None else decode(value),
            lambda value: None if value is None else encode(value),
        )
    if hint is BlobId:
        return BlobId.parse, str
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint, operator.attrgetter("value")
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_fields, hint.to_fields
    if get_origin(hint) is tuple:
        item = _codec(get_args(hint)[0])
        if item is None:
            return tuple, list
        decode, encode = item
        return (
            lambda values: tuple(decode(v) for v in values),
            lambda values: [encode(v) for v in values],
        )
    return None


class Record:
    """A JSON object whose keys are the dataclass's fields, in order: blob IDs as base64url
    text, enums as their values, tuples as lists, records as objects, everything else as it
    is. A class stored in another shape overrides `from_fields` and `to_fields`."""

    __slots__ = ()

    @classmethod
    def _codecs(cls) -> tuple[tuple[str, Codec | None], ...]:
        codecs = _CODECS.get(cls)
        if codecs is None:
            hints = get_type_hints(cls)
            names = (f.name for f in dataclass_fields(cast(Any, cls)))
            codecs = _CODECS[cls] = tuple((name, _codec(hints[name])) for name in names)
        return codecs

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        """Read the JSON."""
        return cls(
            *[
                fields[name] if codec is None else codec[0](fields[name])
                for name, codec in cls._codecs()
            ]
        )

    def to_fields(self) -> dict[str, Any]:
        """The JSON, as stored."""
        return {
            name: getattr(self, name) if codec is None else codec[1](getattr(self, name))
            for name, codec in self._codecs()
        }


_CODECS: dict[type, tuple[tuple[str, Codec | None], ...]] = {}
"""Each record class's fields in order, with their codecs (worked out once)."""


class ObjectFields(Record):
    """The content of one type of object; subclasses are frozen dataclasses."""

    __slots__ = ()
    TYPE: ClassVar[str]
    """The object type tag."""

    @classmethod
    def from_object(cls, obj: Typed) -> Self:
        """Read an object of this type (`SchemaError` for another type)."""
        if obj.type != cls.TYPE:
            raise SchemaError(f"object is a {obj.type}, not a {cls.TYPE}")
        return cls.from_fields(obj.fields)


class EventFields(Record):
    """The content of one type of event; subclasses are frozen dataclasses."""

    __slots__ = ()
    TYPE: ClassVar[str]
    """The event type name."""

    @classmethod
    def from_event(cls, event: Typed) -> Self:
        """Read an event of this type (`SchemaError` for another type)."""
        if event.type != cls.TYPE:
            raise SchemaError(f"event is a {event.type}, not a {cls.TYPE}")
        return cls.from_fields(event.fields)


def _epoch_keys(values: Mapping[str, Any]) -> dict[Epoch, Any]:
    return {Epoch(int(e)): v for e, v in values.items()}


def _string_keys(values: Mapping[Epoch, Any]) -> dict[str, Any]:
    return {str(e): v for e, v in values.items()}


def _optional_epoch(value: Any) -> Epoch | None:
    return None if value is None else Epoch(value)


# WAL ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coin(ObjectFields):
    """A WAL coin (`wal::Coin`), owned by an address."""

    TYPE: ClassVar[str] = COIN
    balance: Frost
    """What the coin holds."""


@dataclass(frozen=True, slots=True)
class Treasury(ObjectFields):
    """The WAL supply (`wal::Treasury`, shared singleton)."""

    TYPE: ClassVar[str] = TREASURY
    unissued: Frost
    """Supply not minted yet (coins and initial stakes come out of it)."""
    burned: Frost
    """Everything burnt so far (3 % of each epoch's rewards, slashed commission)."""


# The system -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SystemMember(Record):
    """A member of the system's BLS committee."""

    node_id: ObjectId
    """The node ID (its staking pool's object ID)."""
    public_key: str
    """The node's BLS12-381 min-pk public key for the epoch, hex."""
    weight: int
    """Its number of shards."""


@dataclass(frozen=True, slots=True)
class SystemCommittee(Record):
    """The committee certificates are checked against (upstream `BlsCommittee`)."""

    epoch: Epoch
    """The epoch it serves."""
    n_shards: int
    """Shards in the system."""
    members: tuple[SystemMember, ...]
    """Members ordered by node ID: the order of a certificate's signers bitmap."""


@dataclass(frozen=True, slots=True)
class AccountingEntry(Record):
    """One epoch of the future accounting ring (upstream `FutureAccounting`)."""

    epoch: Epoch
    """The epoch."""
    used_capacity: int
    """Encoded bytes bought for it."""
    rewards: Frost
    """FROST paid for it, distributed to its committee when it ends."""


def _ring(values: Any) -> tuple[AccountingEntry, ...]:
    return tuple(AccountingEntry.from_fields(e) for e in values)


def _ring_fields(ring: tuple[AccountingEntry, ...]) -> list[dict[str, Any]]:
    # AccountingEntry.to_fields inline: the ring is written by every storage purchase.
    return [
        {"epoch": e.epoch, "used_capacity": e.used_capacity, "rewards": e.rewards} for e in ring
    ]


@dataclass(frozen=True, slots=True)
class System(ObjectFields):
    """The system object (`walrus::System`, shared singleton; upstream `SystemStateInnerV1`)."""

    TYPE: ClassVar[str] = SYSTEM
    epoch: Epoch
    """The current epoch."""
    n_shards: int
    """Number of shards."""
    max_epochs_ahead: int
    """How far ahead storage may be bought (`end_epoch − epoch` at most this)."""
    total_capacity_size: int
    """Encoded bytes the current epoch may hold."""
    storage_price_per_unit_size: Frost
    """FROST per storage unit (1 MiB encoded) and epoch."""
    write_price_per_unit_size: Frost
    """FROST per storage unit, once per registration."""
    committee: SystemCommittee
    """The current epoch's committee."""
    previous_committee: SystemCommittee | None
    """The committee of the epoch before (None before the first epoch change)."""
    future_accounting: tuple[AccountingEntry, ...] | None = None
    """The accounting ring as chains created before `walrus::FutureAccounting` kept it here;
    None (and absent from the fields) once migrated."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        previous = fields["previous_committee"]
        ring = fields.get("future_accounting")
        return cls(
            Epoch(fields["epoch"]),
            fields["n_shards"],
            fields["max_epochs_ahead"],
            fields["total_capacity_size"],
            fields["storage_price_per_unit_size"],
            fields["write_price_per_unit_size"],
            SystemCommittee.from_fields(fields["committee"]),
            None if previous is None else SystemCommittee.from_fields(previous),
            None if ring is None else _ring(ring),
        )

    def to_fields(self) -> dict[str, Any]:
        previous = self.previous_committee
        fields = {
            "epoch": self.epoch,
            "n_shards": self.n_shards,
            "max_epochs_ahead": self.max_epochs_ahead,
            "total_capacity_size": self.total_capacity_size,
            "storage_price_per_unit_size": self.storage_price_per_unit_size,
            "write_price_per_unit_size": self.write_price_per_unit_size,
            "committee": self.committee.to_fields(),
            "previous_committee": None if previous is None else previous.to_fields(),
        }
        if self.future_accounting is not None:
            fields["future_accounting"] = _ring_fields(self.future_accounting)
        return fields


@dataclass(frozen=True, slots=True)
class FutureAccounting(ObjectFields):
    """What was bought for the current and future epochs (`walrus::FutureAccounting`, shared
    singleton; upstream keeps it in the system object)."""

    TYPE: ClassVar[str] = FUTURE_ACCOUNTING
    ring: tuple[AccountingEntry, ...]
    """`max_epochs_ahead` consecutive epochs; entry 0 is the current one."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        return cls(_ring(fields["ring"]))

    def to_fields(self) -> dict[str, Any]:
        return {"ring": _ring_fields(self.ring)}


# Staking ------------------------------------------------------------------------------------


class EpochStateKind(enum.StrEnum):
    """Where the epoch state machine is (upstream `EpochState`)."""

    DONE = "EpochChangeDone"
    """The epoch runs; `voting_end` is due half-way through."""
    PARAMS_SELECTED = "NextParamsSelected"
    """The next committee and capacity are chosen; the epoch change is due at the end."""
    SYNC = "EpochChangeSync"
    """The new committee is receiving its shards; done at a quorum of reports."""


@dataclass(frozen=True, slots=True)
class EpochState:
    """The epoch state: `{kind, at_ms}`, or `{kind: EpochChangeSync, weight, synced}`."""

    kind: EpochStateKind
    """The state."""
    at_ms: int | None = None
    """When the running epoch began (chain time), for `DONE` and `PARAMS_SELECTED`."""
    weight: int = 0
    """Shards of the nodes that reported `epoch_sync_done`, for `SYNC`."""
    synced: tuple[ObjectId, ...] = ()
    """Node IDs that reported, in report order, for `SYNC`."""

    @classmethod
    def running(cls, kind: EpochStateKind, at_ms: int) -> EpochState:
        return cls(kind, at_ms)

    @classmethod
    def syncing(cls) -> EpochState:
        return cls(EpochStateKind.SYNC)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        kind = EpochStateKind(fields["kind"])
        if kind is EpochStateKind.SYNC:
            return cls(kind, None, fields["weight"], tuple(fields["synced"]))
        return cls(kind, fields["at_ms"])

    def to_fields(self) -> dict[str, Any]:
        if self.kind is EpochStateKind.SYNC:
            return {"kind": self.kind.value, "weight": self.weight, "synced": list(self.synced)}
        return {"kind": self.kind.value, "at_ms": self.at_ms}


ShardMap = Mapping[ObjectId, tuple[ShardIndex, ...]]
"""A committee as the staking object keeps it: node ID → its shards."""


def _shard_map(value: Mapping[str, Any]) -> dict[ObjectId, tuple[ShardIndex, ...]]:
    return {ObjectId(node): tuple(shards) for node, shards in value.items()}


def _shard_map_fields(value: ShardMap) -> dict[str, list[int]]:
    return {node: list(shards) for node, shards in value.items()}


@dataclass(frozen=True, slots=True)
class SlashingTally:
    """Votes to slash one node in one epoch (`slashing.move`)."""

    epoch: Epoch
    """The epoch of the votes (a vote in a later epoch starts a new tally)."""
    voters: tuple[ObjectId, ...]
    """Node IDs that voted, in order."""
    weight: int
    """Their shards."""
    executed: bool = False
    """Whether the quorum was reached and the commission burnt (absent until then)."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        return cls(
            Epoch(fields["epoch"]),
            tuple(fields["voters"]),
            fields["weight"],
            bool(fields.get("executed", False)),
        )

    def to_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "epoch": self.epoch,
            "voters": list(self.voters),
            "weight": self.weight,
        }
        if self.executed:
            fields["executed"] = True
        return fields


@dataclass(frozen=True, slots=True)
class UpgradeTally:
    """Votes for one package digest in one epoch and for one version (`upgrade.move`)."""

    epoch: Epoch
    """The epoch of the votes."""
    voters: tuple[ObjectId, ...]
    """Node IDs that voted, in order."""
    weight: int
    """Their shards."""
    version: int | None = None
    """The package version voted for; None (absent) in tallies of older chains, which count
    for the next version."""
    quorum: bool = False
    """Whether the votes reached a quorum (absent until they do)."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        return cls(
            Epoch(fields["epoch"]),
            tuple(fields["voters"]),
            fields["weight"],
            fields.get("version"),
            bool(fields.get("quorum", False)),
        )

    def to_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {} if self.version is None else {"version": self.version}
        fields.update(epoch=self.epoch, voters=list(self.voters), weight=self.weight)
        if self.quorum:
            fields["quorum"] = True
        return fields


@dataclass(frozen=True, slots=True)
class Staking(ObjectFields):
    """The staking object (`walrus::Staking`, shared singleton; upstream `StakingInnerV1`)."""

    TYPE: ClassVar[str] = STAKING
    n_shards: int
    """Number of shards."""
    epoch_duration_ms: int
    """Length of an epoch in chain time."""
    epoch: Epoch
    """The current epoch."""
    epoch_state: EpochState
    """Where the epoch state machine is."""
    pools: tuple[ObjectId, ...]
    """Every registered node's pool, in registration order."""
    active_set: tuple[tuple[ObjectId, Frost], ...]
    """(node ID, stake for the next vote) of the candidates in the active set, JSON
    `[[node_id, stake], …]`."""
    active_set_max: int
    """Most candidates the active set holds."""
    committee: ShardMap
    """The current committee."""
    previous_committee: ShardMap
    """The committee of the epoch before."""
    next_committee: ShardMap | None
    """The committee chosen at `voting_end`, until the epoch change installs it."""
    next_capacity: int
    """The capacity voted at `voting_end` for the next epoch."""
    slashing_votes: Mapping[ObjectId, SlashingTally] | None = None
    """Slashing tallies by target node; absent until the first vote."""
    upgrade_votes: Mapping[str, UpgradeTally] | None = None
    """Upgrade tallies by package digest; absent until the first vote."""
    package_version: int | None = None
    """The package version; absent (version 1) until an upgrade is committed."""
    package_digest: str | None = None
    """The digest of the last committed upgrade; absent until then."""
    optional_order: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The order the four optional fields above were first set in, which the JSON keeps
    (after the other fields); kept up to date on construction, so a field set by `replace`
    for the first time goes last, as it did when contracts changed the JSON in place."""

    OPTIONAL: ClassVar[tuple[str, ...]] = (
        "slashing_votes",
        "upgrade_votes",
        "package_version",
        "package_digest",
    )

    def __post_init__(self) -> None:
        present = [key for key in self.optional_order if getattr(self, key) is not None]
        present += [k for k in self.OPTIONAL if k not in present and getattr(self, k) is not None]
        if tuple(present) != self.optional_order:
            object.__setattr__(self, "optional_order", tuple(present))

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        following = fields["next_committee"]
        slashing = fields.get("slashing_votes")
        upgrades = fields.get("upgrade_votes")
        return cls(
            fields["n_shards"],
            fields["epoch_duration_ms"],
            Epoch(fields["epoch"]),
            EpochState.from_fields(fields["epoch_state"]),
            tuple(fields["pools"]),
            tuple((node, stake) for node, stake in fields["active_set"]),
            fields["active_set_max"],
            _shard_map(fields["committee"]),
            _shard_map(fields["previous_committee"]),
            None if following is None else _shard_map(following),
            fields["next_capacity"],
            None
            if slashing is None
            else {k: SlashingTally.from_fields(v) for k, v in slashing.items()},
            None
            if upgrades is None
            else {k: UpgradeTally.from_fields(v) for k, v in upgrades.items()},
            fields.get("package_version"),
            fields.get("package_digest"),
            tuple(key for key in fields if key in cls.OPTIONAL),
        )

    def to_fields(self) -> dict[str, Any]:
        following = self.next_committee
        fields: dict[str, Any] = {
            "n_shards": self.n_shards,
            "epoch_duration_ms": self.epoch_duration_ms,
            "epoch": self.epoch,
            "epoch_state": self.epoch_state.to_fields(),
            "pools": list(self.pools),
            "active_set": [[node, stake] for node, stake in self.active_set],
            "active_set_max": self.active_set_max,
            "committee": _shard_map_fields(self.committee),
            "previous_committee": _shard_map_fields(self.previous_committee),
            "next_committee": None if following is None else _shard_map_fields(following),
            "next_capacity": self.next_capacity,
        }
        optional = {
            "slashing_votes": None
            if self.slashing_votes is None
            else {k: v.to_fields() for k, v in self.slashing_votes.items()},
            "upgrade_votes": None
            if self.upgrade_votes is None
            else {k: v.to_fields() for k, v in self.upgrade_votes.items()},
            "package_version": self.package_version,
            "package_digest": self.package_digest,
        }
        for key in self.optional_order:
            fields[key] = optional[key]
        return fields

    @property
    def version(self) -> int:
        """The package version (1 until an upgrade is committed)."""
        return 1 if self.package_version is None else self.package_version


class PoolState(enum.StrEnum):
    """A staking pool's state; our chain has no pool withdrawal, so every pool is active."""

    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class NodeVotes(Record):
    """A node's votes on prices and capacity."""

    storage_price: Frost
    """FROST per storage unit and epoch."""
    write_price: Frost
    """FROST per storage unit, once."""
    node_capacity: int
    """Encoded bytes the node offers to store."""


Rate = tuple[Frost, int]
"""An exchange rate (WAL, shares); JSON `[wal, shares]`."""
Pending = Mapping[Epoch, int]
"""Pending values (upstream `pending_values.move`): epoch → amount due from that epoch on;
JSON `{"epoch": amount}`."""


MAX_COMMISSION = 10_000
"""Commission rates are basis points of a pool's rewards: at most 100 %."""
MIN_STAKE = Frost(10**9)
"""A StakedWal holds at least 1 WAL."""


@dataclass(frozen=True, slots=True)
class StakingPool(ObjectFields):
    """A node's staking pool (`walrus::StakingPool`, shared; its ID is the node ID; upstream
    `StakingPool` with its `pending_values` and `exchange_rate`)."""

    TYPE: ClassVar[str] = STAKING_POOL
    state: PoolState
    """The pool's state."""
    name: str
    """The node's name (1 to 100 characters)."""
    network_address: str
    """Where the node serves its REST API (`host:port`)."""
    public_key: str
    """The node's BLS public key for the current epoch, hex."""
    next_epoch_public_key: str | None
    """A BLS key taking over at the next committee installation, hex."""
    network_public_key: str
    """The node's network (TLS) public key."""
    metadata: Mapping[str, Any]
    """Free-form node metadata."""
    votes: NodeVotes
    """Its price and capacity votes."""
    wal_balance: Frost
    """The stakers' WAL: active stake plus their rewards."""
    num_shares: int
    """Shares the stakers own."""
    exchange_rates: Mapping[Epoch, Rate]
    """The rate of each epoch, recorded at its start after the epoch's rewards and before stake
    joins or leaves; `(0, 0)` trades one for one."""
    pending_stake: Pending
    """Stake activating at an epoch."""
    pending_withdraw_shares: Pending
    """Shares leaving at an epoch."""
    pending_withdraw_wal: Pending
    """WAL leaving at an epoch (no longer filled; chains from before drain it)."""
    pre_active_withdrawals: Pending
    """Principal asked back before it activated, by the epoch it leaves in (absent on pools of
    older chains: read as empty)."""
    rewards_pool: Frost
    """Rewards of the stakers not paid out yet."""
    commission_rate: int
    """Commission in basis points (of 10 000)."""
    pending_commission_rates: Pending
    """Commission rates by the epoch they apply from (absent on pools of older chains: read from
    `pending_commission_rate`, their one waiting change). The JSON also carries
    `pending_commission_rate`, `[epoch, rate]` of the first of them or null."""
    commission: Frost
    """Commission the receiver may collect."""
    commission_blocked: Frost
    """Commission of the running epoch, collectable from its `voting_end` (slashable until)."""
    commission_receiver: Address
    """Who may collect the commission."""
    governance_authorized: Address
    """Who may change the commission rate and receiver."""
    operator: Address
    """The node's operator (holder of its `StorageNodeCap` at registration)."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        schedule = fields.get("pending_commission_rates")
        if schedule is None:
            old = fields.get("pending_commission_rate")
            schedule = {str(old[0]): old[1]} if old else {}
        return cls(
            PoolState(fields["state"]),
            fields["name"],
            fields["network_address"],
            fields["public_key"],
            fields["next_epoch_public_key"],
            fields["network_public_key"],
            fields["metadata"],
            NodeVotes.from_fields(fields["votes"]),
            fields["wal_balance"],
            fields["num_shares"],
            {Epoch(int(e)): (w, s) for e, (w, s) in fields["exchange_rates"].items()},
            _epoch_keys(fields["pending_stake"]),
            _epoch_keys(fields["pending_withdraw_shares"]),
            _epoch_keys(fields["pending_withdraw_wal"]),
            _epoch_keys(fields.get("pre_active_withdrawals", {})),
            fields["rewards_pool"],
            fields["commission_rate"],
            _epoch_keys(schedule),
            fields["commission"],
            fields["commission_blocked"],
            fields["commission_receiver"],
            fields["governance_authorized"],
            fields["operator"],
        )

    @property
    def next_commission(self) -> tuple[Epoch, int] | None:
        """(epoch, rate) of the first waiting commission change."""
        first = min(self.pending_commission_rates, default=None)
        return None if first is None else (first, self.pending_commission_rates[first])

    def to_fields(self) -> dict[str, Any]:
        following = self.next_commission
        return {
            "state": self.state.value,
            "name": self.name,
            "network_address": self.network_address,
            "public_key": self.public_key,
            "next_epoch_public_key": self.next_epoch_public_key,
            "network_public_key": self.network_public_key,
            "metadata": self.metadata,
            "votes": self.votes.to_fields(),
            "wal_balance": self.wal_balance,
            "num_shares": self.num_shares,
            "exchange_rates": {str(e): [w, s] for e, (w, s) in self.exchange_rates.items()},
            "pending_stake": _string_keys(self.pending_stake),
            "pending_withdraw_shares": _string_keys(self.pending_withdraw_shares),
            "pending_withdraw_wal": _string_keys(self.pending_withdraw_wal),
            "pre_active_withdrawals": _string_keys(self.pre_active_withdrawals),
            "rewards_pool": self.rewards_pool,
            "commission_rate": self.commission_rate,
            "pending_commission_rate": None if following is None else list(following),
            "pending_commission_rates": _string_keys(self.pending_commission_rates),
            "commission": self.commission,
            "commission_blocked": self.commission_blocked,
            "commission_receiver": self.commission_receiver,
            "governance_authorized": self.governance_authorized,
            "operator": self.operator,
        }


@dataclass(frozen=True, slots=True)
class StorageNodeCap(ObjectFields):
    """The capability to act for a node (`walrus::StorageNodeCap`, owned by its operator)."""

    TYPE: ClassVar[str] = STORAGE_NODE_CAP
    node_id: ObjectId
    """The node (pool) it acts for."""
    last_epoch_sync_done: Epoch
    """The last epoch the node reported `epoch_sync_done` for (0: none)."""


class StakeState(enum.StrEnum):
    """Whether a `StakedWal` is staked or asked back."""

    STAKED = "staked"
    WITHDRAWING = "withdrawing"


@dataclass(frozen=True, slots=True)
class StakedWal(ObjectFields):
    """Staked WAL (`walrus::StakedWal`, owned by the staker)."""

    TYPE: ClassVar[str] = STAKED_WAL
    node_id: ObjectId
    """The pool it is staked with."""
    principal: Frost
    """The WAL staked."""
    activation_epoch: Epoch
    """The epoch it becomes active in (its shares are bought at that epoch's rate)."""
    state: StakeState
    """Staked, or withdrawing after a request."""
    withdraw_epoch: Epoch | None
    """The epoch it may be withdrawn from, once requested."""


# Storage and blobs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Storage(ObjectFields):
    """A storage resource (`walrus::Storage`, owned): space for a period of epochs."""

    TYPE: ClassVar[str] = STORAGE
    start_epoch: Epoch
    """First epoch of the period."""
    end_epoch: Epoch
    """End of the period (exclusive)."""
    storage_size: int
    """Encoded bytes."""


@dataclass(frozen=True, slots=True)
class Blob(ObjectFields):
    """A registered blob (`walrus::Blob`, owned; upstream `Blob`)."""

    TYPE: ClassVar[str] = BLOB
    registered_epoch: Epoch
    """The epoch it was registered in."""
    blob_id: BlobId
    """Its blob ID (base64url in the JSON)."""
    size: int
    """Unencoded length in bytes."""
    encoding_type: EncodingType
    """The encoding (RS2)."""
    certified_epoch: Epoch | None
    """The epoch it was certified in, None until then."""
    storage_id: ObjectId
    """The object ID its storage resource had (`storage.id` in the JSON)."""
    storage: Storage
    """The storage it holds (JSON `storage`: `{id, start_epoch, end_epoch, storage_size}`)."""
    deletable: bool
    """Whether its owner may delete it before it expires."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Its attributes (upstream's `metadata` dynamic field), in insertion order."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        storage = fields["storage"]
        return cls(
            Epoch(fields["registered_epoch"]),
            BlobId.parse(fields["blob_id"]),
            fields["size"],
            EncodingType(fields["encoding_type"]),
            _optional_epoch(fields["certified_epoch"]),
            storage["id"],
            Storage.from_fields(storage),
            fields["deletable"],
            fields["attributes"],
        )

    def to_fields(self) -> dict[str, Any]:
        return {
            "registered_epoch": self.registered_epoch,
            "blob_id": str(self.blob_id),
            "size": self.size,
            "encoding_type": int(self.encoding_type),
            "certified_epoch": self.certified_epoch,
            "storage": {"id": self.storage_id, **self.storage.to_fields()},
            "deletable": self.deletable,
            "attributes": self.attributes,
        }

    @property
    def end_epoch(self) -> Epoch:
        """The epoch it expires at (exclusive)."""
        return self.storage.end_epoch


@dataclass(frozen=True, slots=True)
class SharedBlob(ObjectFields):
    """A blob wrapped into a shared object anyone may fund and extend (`walrus::SharedBlob`)."""

    TYPE: ClassVar[str] = SHARED_BLOB
    object_id: ObjectId
    """The object ID the wrapped blob had (`blob.object_id` in the JSON)."""
    blob: Blob
    """The wrapped blob (JSON `blob`: its fields plus `object_id`, first)."""
    funds: Frost
    """WAL that pays its extensions."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        inner = fields["blob"]
        return cls(inner["object_id"], Blob.from_fields(inner), fields["funds"])

    def to_fields(self) -> dict[str, Any]:
        return {"blob": {"object_id": self.object_id, **self.blob.to_fields()}, "funds": self.funds}


# Events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlobRegistered(EventFields):
    """A blob was registered (`system::register_blob`)."""

    TYPE: ClassVar[str] = "BlobRegistered"
    epoch: Epoch
    """The epoch of registration."""
    blob_id: BlobId
    """The blob ID."""
    size: int
    """Unencoded length."""
    encoding_type: EncodingType
    """The encoding."""
    end_epoch: Epoch
    """When it expires (exclusive)."""
    deletable: bool
    """Whether it is deletable."""
    object_id: ObjectId
    """The `Blob` object."""


@dataclass(frozen=True, slots=True)
class BlobCertified(EventFields):
    """A blob was certified, or a certified blob extended (`is_extension`)."""

    TYPE: ClassVar[str] = "BlobCertified"
    epoch: Epoch
    """The epoch the blob was certified in."""
    blob_id: BlobId
    """The blob ID."""
    end_epoch: Epoch
    """When it expires now (exclusive)."""
    deletable: bool
    """Whether it is deletable."""
    object_id: ObjectId
    """The `Blob` object (for a shared blob, the wrapped blob's ID)."""
    is_extension: bool
    """True for an extension of an already certified blob."""


@dataclass(frozen=True, slots=True)
class BlobDeleted(EventFields):
    """A deletable blob was deleted (`system::delete_blob`)."""

    TYPE: ClassVar[str] = "BlobDeleted"
    epoch: Epoch
    """The epoch of deletion."""
    blob_id: BlobId
    """The blob ID."""
    end_epoch: Epoch
    """When it would have expired."""
    object_id: ObjectId
    """The deleted `Blob` object."""
    was_certified: bool
    """Whether it had been certified."""


@dataclass(frozen=True, slots=True)
class InvalidBlobID(EventFields):
    """A blob ID was marked invalid by a validity certificate (`system::invalidate_blob_id`)."""

    TYPE: ClassVar[str] = "InvalidBlobID"
    epoch: Epoch
    """The epoch of the certificate."""
    blob_id: BlobId
    """The invalid blob ID."""


@dataclass(frozen=True, slots=True)
class EpochParametersSelected(EventFields):
    """`voting_end` chose the next committee and capacity."""

    TYPE: ClassVar[str] = "EpochParametersSelected"
    next_epoch: Epoch
    """The epoch they are for."""


@dataclass(frozen=True, slots=True)
class EpochChangeStart(EventFields):
    """A new epoch began; its committee now receives its shards."""

    TYPE: ClassVar[str] = "EpochChangeStart"
    epoch: Epoch
    """The new epoch."""


@dataclass(frozen=True, slots=True)
class EpochChangeDone(EventFields):
    """Nodes holding a quorum of shards reported the epoch's shards received."""

    TYPE: ClassVar[str] = "EpochChangeDone"
    epoch: Epoch
    """The epoch whose change is done."""


@dataclass(frozen=True, slots=True)
class ShardsReceived(EventFields):
    """A committee member reported that it holds its shards (`staking::epoch_sync_done`)."""

    TYPE: ClassVar[str] = "ShardsReceived"
    epoch: Epoch
    """The epoch reported."""
    shards: tuple[ShardIndex, ...]
    """The member's shards in that epoch."""


@dataclass(frozen=True, slots=True)
class PricesUpdated(EventFields):
    """Prices were recomputed from the committee's votes."""

    TYPE: ClassVar[str] = "PricesUpdated"
    epoch: Epoch
    """The current epoch."""
    storage_price: Frost
    """FROST per storage unit and epoch."""
    write_price: Frost
    """FROST per storage unit, once."""


@dataclass(frozen=True, slots=True)
class NodeSlashed(EventFields):
    """Slashing votes reached a quorum: the node's commission was burnt."""

    TYPE: ClassVar[str] = "NodeSlashed"
    epoch: Epoch
    """The epoch of the votes."""
    node_id: ObjectId
    """The slashed node."""
    burned: Frost
    """Commission burnt."""


@dataclass(frozen=True, slots=True)
class ContractUpgradeProposed(EventFields):
    """The first vote for a package digest in an epoch."""

    TYPE: ClassVar[str] = "ContractUpgradeProposed"
    epoch: Epoch
    """The epoch of the vote."""
    package_digest: str
    """The digest, `0x` and lower-case hex."""


@dataclass(frozen=True, slots=True)
class ContractUpgradeQuorumReached(EventFields):
    """The votes for a package digest reached a quorum."""

    TYPE: ClassVar[str] = "ContractUpgradeQuorumReached"
    epoch: Epoch
    """The epoch of the votes."""
    package_digest: str
    """The digest, `0x` and lower-case hex."""


@dataclass(frozen=True, slots=True)
class ContractUpgraded(EventFields):
    """An upgrade was committed."""

    TYPE: ClassVar[str] = "ContractUpgraded"
    epoch: Epoch
    """The epoch of the commit."""
    package_digest: str
    """The new package digest."""
    version: int
    """The new package version."""


# Registries ---------------------------------------------------------------------------------

OBJECT_SCHEMAS: Mapping[str, type[ObjectFields]] = {
    cls.TYPE: cls
    for cls in (
        Coin,
        Treasury,
        System,
        FutureAccounting,
        Staking,
        StakingPool,
        StorageNodeCap,
        StakedWal,
        Storage,
        Blob,
        SharedBlob,
    )
}
"""Every object type the contracts create, by type tag."""

EVENT_SCHEMAS: Mapping[str, type[EventFields]] = {
    cls.TYPE: cls
    for cls in (
        BlobRegistered,
        BlobCertified,
        BlobDeleted,
        InvalidBlobID,
        EpochParametersSelected,
        EpochChangeStart,
        EpochChangeDone,
        ShardsReceived,
        PricesUpdated,
        NodeSlashed,
        ContractUpgradeProposed,
        ContractUpgradeQuorumReached,
        ContractUpgraded,
    )
}
"""Every event type the contracts emit, by name."""


def parse_object(obj: Typed) -> ObjectFields:
    """An object read through the schema of its type (`SchemaError` for an unknown type)."""
    schema = OBJECT_SCHEMAS.get(obj.type)
    if schema is None:
        raise SchemaError(f"unknown object type {obj.type!r}")
    return schema.from_fields(obj.fields)


def parse_event(event: Typed) -> EventFields:
    """An event read through the schema of its type (`SchemaError` for an unknown type)."""
    schema = EVENT_SCHEMAS.get(event.type)
    if schema is None:
        raise SchemaError(f"unknown event type {event.type!r}")
    return schema.from_fields(event.fields)
