"""The view of the ledger a transaction's contract calls run against.

Calls read and change working copies of objects; nothing reaches the ledger unless every call
of the transaction succeeds, when the ledger writes the changed objects, the events and the
account updates in one commit.

Contracts read an object's content through its schema (`load`, `read`) and change it only by
storing a new value (`store`), never by changing `fields` in place. So a working copy starts
out sharing its fields with the committed object (no copy); a stored value is written out as
fields once, when the transaction ends (`changed`), however often the calls stored it; and the
schema value read from or written as a fields dict is remembered and handed out again for as
long as that dict is the object's content, so a singleton read by every transaction, or an
object changed by one transaction and read by the next, is parsed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, TypeVar

from pywalrus.chain.objects import IMMUTABLE, SHARED, Object
from pywalrus.chain.schema import EventFields, ObjectFields
from pywalrus.core.accounts import parse_address
from pywalrus.core.errors import Abort, InvalidAddressError

S = TypeVar("S", bound=ObjectFields)

TYPED_CACHE_SIZE = 4096
_typed: dict[str, tuple[dict[str, Any], ObjectFields]] = {}
"""Object ID → (fields dict, the schema value read from or written as that very dict)."""


def _remember(obj: Object, value: ObjectFields) -> None:
    if obj.id not in _typed and len(_typed) >= TYPED_CACHE_SIZE:
        _typed.pop(next(iter(_typed)))
    _typed[obj.id] = (obj.fields, value)


def content(obj: Object, schema: type[S]) -> S:
    """`obj`'s content as a `schema` value (parsed at most once per fields dict)."""
    cached = _typed.get(obj.id)
    if cached is not None and cached[0] is obj.fields and type(cached[1]) is schema:
        return cached[1]
    value = schema.from_fields(obj.fields)
    _remember(obj, value)
    return value


MAX_GAS_BALANCE = (1 << 63) - 1
"""Gas balances are SQLite integers."""


@dataclass
class EmittedEvent:
    """An event recorded by a call, before it gets its place in the chain."""

    type: str
    """Event type name."""
    fields: dict[str, Any]
    """Event content."""
    objects: list[str] = field(default_factory=list)
    """Object IDs the event can be queried by."""


class TxContext:
    """Working state of one transaction."""

    def __init__(
        self,
        load: Callable[[str], Object | None],
        singleton_id: Callable[[str], str | None],
        account: Callable[[str], tuple[int, int]],
        sender: str,
        tx_digest: str,
        now_ms: int,
        chain_address: str,
    ) -> None:
        self._load = load
        self._singleton_id = singleton_id
        self._account = account
        self.sender = sender
        self.tx_digest = tx_digest
        self.now_ms = now_ms
        self.chain_address = chain_address
        self.originals: dict[str, Object] = {}
        self.working: dict[str, Object] = {}
        self.viewed: dict[str, Object] = {}
        self.created: set[str] = set()
        self.deleted: set[str] = set()
        self.events: list[EmittedEvent] = []
        self.gas: dict[str, int] = {}
        self._stored: dict[str, ObjectFields] = {}
        """Values stored into working copies whose `fields` are not written yet."""
        self.new_singletons: dict[str, str] = {}
        self._counter = 0

    @property
    def is_chain(self) -> bool:
        """True for the chain's own system transactions."""
        return self.sender == self.chain_address

    def require_chain(self) -> None:
        if not self.is_chain:
            raise Abort("ENotAuthorized", "only the chain itself may call this function")

    def _fetch(self, object_id: str) -> Object:
        try:
            object_id = parse_address(object_id)
        except InvalidAddressError as exc:
            raise Abort("EInvalidObjectId", str(exc)) from None
        if object_id in self.deleted:
            raise Abort("EObjectNotFound", f"object {object_id} was deleted")
        if object_id in self.working:
            return self.working[object_id]
        stored = self._load(object_id)
        if stored is None:
            raise Abort("EObjectNotFound", f"object {object_id} does not exist")
        self.originals[object_id] = stored
        # Shares the committed fields until the transaction stores new ones (see above).
        working = Object(stored.id, stored.type, stored.owner, stored.version, stored.fields)
        self.working[object_id] = working
        return working

    def _usable(self, obj: Object, type_: str) -> Object:
        """`obj` if it has the type and the sender may use it (owned, shared or immutable)."""
        if obj.type != type_:
            raise Abort("EWrongType", f"object {obj.id} is a {obj.type}, not a {type_}")
        if obj.owner not in (SHARED, IMMUTABLE) and obj.owner != self.sender and not self.is_chain:
            raise Abort("ENotOwner", f"object {obj.id} is not owned by the sender")
        return obj

    def get(self, object_id: str, type_: str) -> Object:
        """A working copy of an object the sender may use; its changes are kept on success."""
        return self._usable(self._fetch(object_id), type_)

    def view(self, object_id: str, type_: str) -> Object:
        """Read-only access (no working copy is made, so changes to it are not kept)."""
        if object_id in self.working or object_id in self.deleted:
            return self.get(object_id, type_)
        obj = self.viewed.get(object_id) or self._load(object_id)
        if obj is None:
            raise Abort("EObjectNotFound", f"object {object_id} does not exist")
        self.viewed[object_id] = self._usable(obj, type_)
        return obj

    def _singleton_of(self, type_: str) -> str:
        object_id = self.new_singletons.get(type_) or self._singleton_id(type_)
        if object_id is None:
            raise Abort("EObjectNotFound", f"no {type_} object on this chain")
        return object_id

    def singleton_view(self, type_: str) -> Object:
        """Read-only access to a singleton (the system object for a certificate check, …)."""
        return self.view(self._singleton_of(type_), type_)

    def get_mut(self, object_id: str, type_: str) -> Object:
        obj = self.get(object_id, type_)
        if obj.owner == IMMUTABLE:
            raise Abort("EImmutable", f"object {obj.id} is immutable")
        return obj

    def singleton(self, type_: str) -> Object:
        """The shared object of a type there is one of (`walrus::System`, …)."""
        return self.get(self._singleton_of(type_), type_)

    # Typed access: read an object's content through its schema, change it, store it back.

    def _content(self, obj: Object, schema: type[S]) -> S:
        stored = self._stored.get(obj.id)
        if stored is not None and type(stored) is schema:
            return stored
        return content(obj, schema)

    def load(self, schema: type[S], object_id: str) -> tuple[Object, S]:
        """A working copy of an object the sender may change (as `get_mut`) and its content."""
        obj = self.get_mut(object_id, schema.TYPE)
        return obj, self._content(obj, schema)

    def read(self, schema: type[S], object_id: str) -> S:
        """The content of an object the sender may use, for reading only (as `view`)."""
        return self._content(self.view(object_id, schema.TYPE), schema)

    def load_singleton(self, schema: type[S]) -> tuple[Object, S]:
        """The working copy of a singleton and its content."""
        obj = self.singleton(schema.TYPE)
        return obj, self._content(obj, schema)

    def read_singleton(self, schema: type[S]) -> S:
        """A singleton's content, for reading only."""
        return self._content(self.singleton_view(schema.TYPE), schema)

    def store(self, obj: Object, value: ObjectFields) -> None:
        """Make `value` the content of the working copy `obj` (its `fields` follow when the
        transaction ends)."""
        if self.working.get(obj.id) is not obj:
            raise ValueError(f"object {obj.id} is not a working copy of this transaction")
        self._stored[obj.id] = value

    def new_id(self) -> str:
        self._counter += 1
        seed = self.tx_digest.encode() + self._counter.to_bytes(8, "little")
        return "0x" + blake2b(seed, digest_size=32).hexdigest()

    def create(self, value: ObjectFields, owner: str, singleton: bool = False) -> Object:
        """A new object of `value`'s type with that content."""
        obj = Object(self.new_id(), value.TYPE, owner, 0, value.to_fields())
        _remember(obj, value)
        self.working[obj.id] = obj
        self.created.add(obj.id)
        if singleton:
            self.new_singletons[value.TYPE] = obj.id
        return obj

    def delete(self, obj: Object) -> None:
        self._stored.pop(obj.id, None)
        self.working.pop(obj.id, None)
        if obj.id in self.created:
            self.created.discard(obj.id)
        else:
            self.deleted.add(obj.id)

    def transfer(self, obj: Object, owner: str) -> None:
        obj.owner = owner if owner in (SHARED, IMMUTABLE) else self.address(owner)

    @staticmethod
    def address(text: str) -> str:
        """A normalised 0x-hex address, or an abort naming the bad one."""
        try:
            return parse_address(text)
        except InvalidAddressError as exc:
            raise Abort("EInvalidAddress", str(exc)) from None

    def emit(self, event: EventFields, objects: list[str] | None = None) -> None:
        """Record an event, queryable by the object IDs in `objects`."""
        self.events.append(EmittedEvent(event.TYPE, event.to_fields(), objects or []))

    def gas_balance(self, address: str) -> int:
        return self._account(address)[1] + self.gas.get(address, 0)

    def add_gas(self, address: str, amount: int) -> None:
        address = self.address(address)
        balance = self.gas_balance(address) + amount
        if balance < 0:
            raise Abort("EInsufficientGas", f"{address} has not enough gas")
        if balance > MAX_GAS_BALANCE:
            raise Abort("EOverflow", f"the gas balance of {address} would exceed {MAX_GAS_BALANCE}")
        self.gas[address] = self.gas.get(address, 0) + amount

    def changed(self) -> list[Object]:
        """Created objects and loaded objects whose content or owner changed (with every
        stored value written out as fields)."""
        for object_id, value in self._stored.items():
            obj = self.working[object_id]
            obj.fields = value.to_fields()
            _remember(obj, value)
        self._stored.clear()
        out = []
        for object_id, obj in self.working.items():
            original = self.originals.get(object_id)
            if original is None or original.fields != obj.fields or original.owner != obj.owner:
                out.append(obj)
        return out
