"""Blob objects on chain: listing, delete, extend, share, fund, burn and attributes.

`BlobOps` acts for one account; every operation names the object it acts on, and a refused
transaction surfaces as the chain's error (with too little WAL or gas as `InsufficientFunds`).
"""

from __future__ import annotations

from typing import Any

from pywalrus.chain.client import ChainClient
from pywalrus.chain.objects import Object
from pywalrus.chain.tx import Call
from pywalrus.client.chain_ops import select_payment
from pywalrus.core.accounts import Account
from pywalrus.core.errors import BlobNotFound, ChainError, InsufficientFunds, InsufficientGas
from pywalrus.core.types import BlobId


def blob_object_json(obj: Object) -> dict[str, Any]:
    """A Blob object in the shape of upstream's `blobObject` JSON."""
    f = obj.fields
    return {
        "id": obj.id,
        "registeredEpoch": f["registered_epoch"],
        "blobId": f["blob_id"],
        "size": f["size"],
        "encodingType": "RS2",
        "certifiedEpoch": f["certified_epoch"],
        "storage": {
            "id": f["storage"]["id"],
            "startEpoch": f["storage"]["start_epoch"],
            "endEpoch": f["storage"]["end_epoch"],
            "storageSize": f["storage"]["storage_size"],
        },
        "deletable": f["deletable"],
    }


class BlobOps:
    """Blob object management on chain (delete, extend, share, burn, attributes, listing)."""

    def __init__(self, chain: ChainClient, account: Account) -> None:
        self.chain = chain
        self.account = account

    async def _run(self, *calls: Call) -> dict[str, Any]:
        return await execute_paying(self.chain, self.account, list(calls))

    async def list_blobs(self, include_expired: bool = False) -> list[dict[str, Any]]:
        epoch = (await self.chain.singleton("walrus::System")).fields["epoch"]
        out = []
        for obj in await self.chain.owned_objects(self.account.address, "walrus::Blob"):
            if include_expired or obj.fields["storage"]["end_epoch"] > epoch:
                out.append(blob_object_json(obj))
        return out

    async def owned_live_blobs(self) -> list[Object]:
        """The account's Blob objects that have not expired."""
        epoch = (await self.chain.singleton("walrus::System")).fields["epoch"]
        return [
            obj
            for obj in await self.chain.owned_objects(self.account.address, "walrus::Blob")
            if obj.fields["storage"]["end_epoch"] > epoch
        ]

    async def _blob(self, object_id: str, action: str) -> Object:
        """The account's Blob object `object_id`, or an error saying what it is instead."""
        obj = await self.chain.get_object(object_id)
        if obj is None:
            raise BlobNotFound(f"no blob object {object_id}")
        if obj.type == "walrus::SharedBlob":
            raise BlobNotFound(f"{object_id} is a shared blob: {action} it with --shared")
        if obj.type != "walrus::Blob":
            raise BlobNotFound(f"{object_id} is a {obj.type}, not a blob object")
        if obj.owner != self.account.address:
            raise BlobNotFound(
                f"blob object {object_id} is not owned by the wallet {self.account.address}"
            )
        return obj

    async def objects_for(self, blob_id: BlobId) -> list[Object]:
        return [
            o
            for o in await self.chain.owned_objects(self.account.address, "walrus::Blob")
            if o.fields["blob_id"] == str(blob_id)
        ]

    async def delete(self, object_id: str) -> dict[str, Any]:
        result = await self._run(Call("system::delete_blob", {"blob": object_id}))
        return {"objectId": object_id, "storage": result["effects"]["results"][0]["storage"]}

    async def extend(self, object_id: str, epochs: int, shared: bool = False) -> dict[str, Any]:
        if shared:
            result = await self._run(
                Call("shared_blob::extend", {"shared_blob": object_id, "extended_epochs": epochs})
            )
            return {"objectId": object_id, "cost": result["effects"]["results"][0]["cost"]}
        obj = await self._blob(object_id, "extend")
        system = (await self.chain.singleton("walrus::System")).fields
        units = -(-int(obj.fields["storage"]["storage_size"]) // (1 << 20))
        cost = system["storage_price_per_unit_size"] * units * epochs
        coin = await pay_coin(self.chain, self.account, cost)
        await self._run(
            Call(
                "system::extend_blob",
                {"blob": object_id, "extended_epochs": epochs, "payment": coin},
            )
        )
        updated = await self.chain.get_object(object_id)
        assert updated is not None
        return {
            "objectId": object_id,
            "cost": cost,
            "endEpoch": updated.fields["storage"]["end_epoch"],
        }

    async def share(self, object_id: str, amount: int = 0) -> dict[str, Any]:
        args: dict[str, Any] = {"blob": object_id}
        if amount:
            args.update(payment=await pay_coin(self.chain, self.account, amount), amount=amount)
        result = await self._run(Call("shared_blob::new", args))
        return {
            "sharedBlobObject": result["effects"]["results"][0]["shared_blob"],
            "amount": amount,
        }

    async def fund_shared(self, shared_id: str, amount: int) -> dict[str, Any]:
        coin = await pay_coin(self.chain, self.account, amount)
        await self._run(
            Call("shared_blob::fund", {"shared_blob": shared_id, "payment": coin, "amount": amount})
        )
        return {"sharedBlobObject": shared_id, "amount": amount}

    async def burn(self, object_ids: list[str]) -> dict[str, Any]:
        if object_ids:
            await self._run(*(Call("system::burn_blob", {"blob": o}) for o in object_ids))
        return {"burned": object_ids}

    async def attributes(self, object_id: str) -> dict[str, str]:
        """The blob object's attribute pairs (empty if it has none); any owner's blob."""
        obj = await self.chain.get_object(object_id)
        if obj is None or obj.type != "walrus::Blob":
            raise BlobNotFound(f"no blob object {object_id}")
        return dict(obj.fields["attributes"])

    async def set_attributes(self, object_id: str, pairs: dict[str, str]) -> None:
        await self._run(
            *(
                Call("blob::set_attribute", {"blob": object_id, "key": k, "value": v})
                for k, v in pairs.items()
            )
        )

    async def remove_attribute_fields(self, object_id: str, keys: list[str]) -> None:
        await self._run(
            *(Call("blob::remove_attribute", {"blob": object_id, "key": k}) for k in keys)
        )

    async def remove_attributes(self, object_id: str) -> None:
        await self._run(Call("blob::remove_attributes", {"blob": object_id}))


async def pay_coin(chain: ChainClient, account: Account, amount: int) -> str:
    """A coin of the account holding at least `amount` (merging coins first if needed)."""
    if amount == 0:  # a free operation still names a coin
        coins = await chain.owned_objects(account.address, "wal::Coin")
        if not coins:
            raise InsufficientFunds(f"the wallet {account.address} holds no WAL coin")
        return coins[0].id
    payment = await select_payment(chain, account.address, amount)
    if payment.calls:
        await chain.execute(account, list(payment.calls))
    return payment.coin


async def execute_paying(chain: ChainClient, account: Account, calls: list[Call]) -> dict[str, Any]:
    """Execute `calls`; a refusal for too little WAL or gas becomes `InsufficientFunds` (or
    `InsufficientGas`), with what was short in its message."""
    try:
        return await chain.execute(account, calls)
    except ChainError as exc:
        if exc.reason == "EInsufficientGas":
            raise InsufficientGas(f"not enough gas (SUI) for the transaction fee: {exc}") from None
        if exc.reason == "EInsufficientFunds":
            raise InsufficientFunds(f"not enough WAL: {exc}") from None
        raise
