"""The client's bulk check of storage confirmations: one aggregate check, each only on failure."""

from __future__ import annotations

from pywalrus.client.confirmations import Confirmations
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.messages import PERMANENT, SignedMessage, StorageConfirmation
from pywalrus.core.types import BlobId, Epoch
from pywalrus.network.committee import CommitteeView, NodeMember

N_SHARDS = 10


def committee(keys: list[BlsPrivateKey], shards: list[int]) -> CommitteeView:
    members, first = [], 0
    for index, (key, count) in enumerate(zip(keys, shards, strict=True)):
        members.append(
            NodeMember(
                index=index,
                node_id=f"0x{index:064x}",
                name=f"node-{index}",
                url=f"http://127.0.0.1:{9000 + index}",
                public_key=key.public_key(),
                shards=tuple(range(first, first + count)),
            )
        )
        first += count
    return CommitteeView(1, N_SHARDS, tuple(members))


def test_a_bad_signature_in_the_first_aggregate_is_dropped() -> None:
    keys = [BlsPrivateKey.generate() for _ in range(4)]
    group = committee(keys, [4, 2, 2, 2])
    message = StorageConfirmation(Epoch(1), BlobId(bytes(32)), PERMANENT).to_bytes()
    confirmations = Confirmations(group, message)
    # Member 0 (4 shards) signs other bytes with its key but returns them as this message.
    liar = SignedMessage(message, keys[0].sign(message + b"x"))
    confirmations.add(group.members[0], liar)
    for index in (1, 2):
        confirmations.add(group.members[index], SignedMessage(message, keys[index].sign(message)))
    # 8 of 10 shards could be a quorum: the aggregate fails, each is checked, the liar dropped.
    assert set(confirmations.checked) == {1, 2}
    assert not confirmations.has_quorum
    confirmations.add(group.members[3], SignedMessage(message, keys[3].sign(message)))
    confirmations.settle()
    assert set(confirmations.checked) == {1, 2, 3}
    assert confirmations.weight == 6
    assert not confirmations.has_quorum


def test_honest_confirmations_make_a_valid_certificate() -> None:
    keys = [BlsPrivateKey.generate() for _ in range(4)]
    group = committee(keys, [4, 2, 2, 2])
    message = StorageConfirmation(Epoch(1), BlobId(bytes(32)), PERMANENT).to_bytes()
    confirmations = Confirmations(group, message)
    other = StorageConfirmation(Epoch(2), BlobId(bytes(32)), PERMANENT).to_bytes()
    confirmations.add(group.members[3], SignedMessage(other, keys[3].sign(other)))
    for index in (0, 1, 2):
        confirmations.add(group.members[index], SignedMessage(message, keys[index].sign(message)))
    assert confirmations.has_quorum
    assert set(confirmations.checked) == {0, 1, 2}  # the wrong message never counted
    certificate = confirmations.certificate()
    assert certificate.serialized_message == message
