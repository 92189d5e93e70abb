"""WAL, the storage token (9 decimals; 1 WAL = 10^9 FROST), as Sui-style coin objects.

Coins are owned objects with a balance; payments take an amount out of a coin the sender
owns. The treasury object counts the supply and what was burnt.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import entry
from pywalrus.chain.objects import SHARED, Object
from pywalrus.chain.schema import COIN as COIN
from pywalrus.chain.schema import TREASURY as TREASURY
from pywalrus.chain.schema import Coin, Treasury
from pywalrus.core.errors import Abort
from pywalrus.core.pricing import FROST_PER_WAL as FROST_PER_WAL
from pywalrus.core.types import Frost

TOTAL_SUPPLY = 5_000_000_000 * FROST_PER_WAL


def new_coin(ctx: TxContext, owner: str, amount: int) -> Object:
    coin = ctx.create(Coin(Frost(amount)), owner)
    ctx.transfer(coin, owner)
    return coin


def take_supply(ctx: TxContext, amount: int) -> None:
    """Take `amount` out of the treasury's unissued supply (for a coin or an initial stake)."""
    obj, treasury = ctx.load_singleton(Treasury)
    if treasury.unissued < amount:
        raise Abort("ESupplyExhausted", "the WAL supply is exhausted")
    ctx.store(obj, replace(treasury, unissued=Frost(treasury.unissued - amount)))


def mint(ctx: TxContext, owner: str, amount: int) -> Object:
    """Take `amount` out of the treasury's unissued supply into a new coin for `owner`."""
    take_supply(ctx, amount)
    return new_coin(ctx, owner, amount)


def burn(ctx: TxContext, amount: int) -> None:
    if amount:
        obj, treasury = ctx.load_singleton(Treasury)
        ctx.store(obj, replace(treasury, burned=Frost(treasury.burned + amount)))


def withdraw(ctx: TxContext, coin_id: str, amount: int) -> Frost:
    """Take `amount` FROST out of a coin the sender owns; returns the amount."""
    obj, coin = ctx.load(Coin, coin_id)
    if coin.balance < amount:
        raise Abort(
            "EInsufficientFunds", f"coin {obj.id} holds {coin.balance} FROST, {amount} needed"
        )
    ctx.store(obj, Coin(Frost(coin.balance - amount)))
    return Frost(amount)


@entry("wal::split")
def split(ctx: TxContext, coin: str, amount: int) -> dict[str, Any]:
    """Split `amount` off a coin into a new coin owned by the sender."""
    withdraw(ctx, coin, amount)
    return {"coin": new_coin(ctx, ctx.sender, amount).id}


@entry("wal::merge")
def merge(ctx: TxContext, coin: str, others: list[str]) -> dict[str, Any]:
    """Merge coins into `coin`, deleting them."""
    target, value = ctx.load(Coin, coin)
    for other_id in others:
        other, extra = ctx.load(Coin, other_id)
        if other.id == target.id:
            raise Abort("EBadArgument", "cannot merge a coin into itself")
        value = Coin(Frost(value.balance + extra.balance))
        ctx.store(target, value)
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
    return ctx.create(Treasury(Frost(TOTAL_SUPPLY), Frost(0)), SHARED, singleton=True)
