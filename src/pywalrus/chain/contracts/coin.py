"""WAL, the storage token (9 decimals; 1 WAL = 10^9 FROST), as Sui-style coin objects.

Coins are owned objects with a balance; payments take an amount out of a coin the sender
owns. The treasury object counts the supply and what was burnt.
"""

from __future__ import annotations

from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import entry
from pywalrus.chain.objects import SHARED, Object
from pywalrus.core.errors import Abort

COIN = "wal::Coin"
TREASURY = "wal::Treasury"
FROST_PER_WAL = 10**9
TOTAL_SUPPLY = 5_000_000_000 * FROST_PER_WAL


def new_coin(ctx: TxContext, owner: str, amount: int) -> Object:
    coin = ctx.create(COIN, owner, {"balance": amount})
    ctx.transfer(coin, owner)
    return coin


def mint(ctx: TxContext, owner: str, amount: int) -> Object:
    """Take `amount` out of the treasury's unissued supply into a new coin for `owner`."""
    treasury = ctx.singleton(TREASURY)
    if treasury.fields["unissued"] < amount:
        raise Abort("ESupplyExhausted", "the WAL supply is exhausted")
    treasury.fields["unissued"] -= amount
    return new_coin(ctx, owner, amount)


def burn(ctx: TxContext, amount: int) -> None:
    if amount:
        ctx.singleton(TREASURY).fields["burned"] += amount


def withdraw(ctx: TxContext, coin_id: str, amount: int) -> int:
    """Take `amount` FROST out of a coin the sender owns; returns the amount."""
    coin = ctx.get_mut(coin_id, COIN)
    if coin.fields["balance"] < amount:
        raise Abort(
            "EInsufficientFunds",
            f"coin {coin.id} holds {coin.fields['balance']} FROST, {amount} needed",
        )
    coin.fields["balance"] -= amount
    return amount


@entry("wal::split")
def split(ctx: TxContext, coin: str, amount: int) -> dict[str, Any]:
    """Split `amount` off a coin into a new coin owned by the sender."""
    withdraw(ctx, coin, amount)
    return {"coin": new_coin(ctx, ctx.sender, amount).id}


@entry("wal::merge")
def merge(ctx: TxContext, coin: str, others: list[str]) -> dict[str, Any]:
    """Merge coins into `coin`, deleting them."""
    target = ctx.get_mut(coin, COIN)
    for other_id in others:
        other = ctx.get_mut(other_id, COIN)
        if other.id == target.id:
            raise Abort("EBadArgument", "cannot merge a coin into itself")
        target.fields["balance"] += other.fields["balance"]
        ctx.delete(other)
    return {"coin": target.id}


@entry("wal::transfer")
def transfer(ctx: TxContext, coin: str, recipient: str) -> dict[str, Any]:
    """Give a whole coin to another address."""
    obj = ctx.get_mut(coin, COIN)
    ctx.transfer(obj, recipient)
    return {"coin": obj.id}


@entry("wal::pay")
def pay(ctx: TxContext, coin: str, amount: int, recipient: str) -> dict[str, Any]:
    """Send `amount` out of a coin to `recipient` as a new coin."""
    withdraw(ctx, coin, amount)
    return {"coin": new_coin(ctx, recipient, amount).id}


@entry("wal::faucet")
def faucet(ctx: TxContext, recipient: str, amount: int) -> dict[str, Any]:
    """Mint WAL to an address (the chain's own transactions only, on local networks)."""
    ctx.require_chain()
    return {"coin": mint(ctx, recipient, amount).id}


@entry("gas::transfer")
def transfer_gas(ctx: TxContext, recipient: str, amount: int) -> None:
    """Move gas (MIST) from the sender to another address."""
    ctx.add_gas(ctx.sender, -amount)
    ctx.add_gas(recipient, amount)


@entry("gas::faucet")
def gas_faucet(ctx: TxContext, recipient: str, amount: int) -> None:
    ctx.require_chain()
    ctx.add_gas(recipient, amount)


def create_treasury(ctx: TxContext) -> Object:
    return ctx.create(TREASURY, SHARED, {"unissued": TOTAL_SUPPLY, "burned": 0}, singleton=True)
