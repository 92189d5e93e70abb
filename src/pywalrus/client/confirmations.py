"""Storage confirmations gathered during a store, with their signatures checked in bulk.

Every node's confirmation must be signed by its key before it counts towards the quorum.
Checking each BLS signature costs a pairing check (about 2 ms here), seven per store on the
default network. All confirmations sign the same bytes, so the sum of the signatures verifies
against the sum of the signers' keys exactly when the certificate made of them will: one check
does for all of them. Only if it fails (some node signed garbage) is each one checked on its
own, and the bad ones dropped. Keys are registered on chain with a proof of possession, so a
node cannot pick its key to cancel another's.
"""

from __future__ import annotations

from pywalrus.core.certificates import Certificate, aggregate_certificate
from pywalrus.core.config import is_quorum
from pywalrus.core.crypto.bls import aggregate_public_keys, aggregate_signatures, verify
from pywalrus.core.errors import BlsError
from pywalrus.core.messages import SignedMessage
from pywalrus.network.committee import CommitteeView, NodeMember


class Confirmations:
    """Confirmations of one blob's storage by the members of one committee."""

    def __init__(self, committee: CommitteeView, expected: bytes) -> None:
        self.committee = committee
        self.expected = expected
        """The exact confirmation bytes every member must sign."""
        self.checked: dict[int, SignedMessage] = {}
        """Member index → confirmation whose signature has been checked."""
        self._unchecked: dict[int, tuple[NodeMember, SignedMessage]] = {}

    @property
    def weight(self) -> int:
        """Shards of the members whose confirmations are checked."""
        return sum(len(self.committee.members[i].shards) for i in self.checked)

    @property
    def has_quorum(self) -> bool:
        return is_quorum(self.weight, self.committee.n_shards)

    def add(self, member: NodeMember, signed: SignedMessage) -> None:
        """Take a member's confirmation; check signatures once they could make a quorum."""
        if signed.serialized_message != self.expected:
            return  # not the confirmation asked for: it does not count
        self._unchecked[member.index] = (member, signed)
        pending = sum(len(m.shards) for m, _ in self._unchecked.values())
        if is_quorum(self.weight + pending, self.committee.n_shards):
            self.settle()

    def settle(self) -> None:
        """Check the signatures not checked yet: all at once, or each if that fails."""
        if not self._unchecked:
            return
        batch, self._unchecked = self._unchecked, {}
        if not _all_valid(list(batch.values()), self.expected):
            batch = {i: e for i, e in batch.items() if _all_valid([e], self.expected)}
        self.checked.update((i, signed) for i, (_, signed) in batch.items())

    def certificate(self) -> Certificate:
        return aggregate_certificate(len(self.committee.members), sorted(self.checked.items()))


def _all_valid(entries: list[tuple[NodeMember, SignedMessage]], message: bytes) -> bool:
    try:
        key = aggregate_public_keys(member.public_key for member, _ in entries)
        signature = aggregate_signatures(signed.signature for _, signed in entries)
    except BlsError:
        return False
    return verify(key, message, signature)
