"""Genesis: the chain's first transaction creates the token, the system and the first committee.

The genesis configuration names the storage nodes (operator address, BLS key with its proof of
possession for epoch 0, network address, initial stake, votes) and the funded accounts. The
nodes' initial stake is minted into their pools as `StakedWal` owned by each operator, the
first committee is apportioned from it, and the chain enters epoch 1 directly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import coin, entry, staking, system
from pywalrus.chain.schema import MIN_STAKE, StakedWal, StakeState, StakingPool, Treasury
from pywalrus.core.committee import MAINNET_ACTIVE_SET_SIZE_LIMIT
from pywalrus.core.errors import Abort
from pywalrus.core.types import Epoch, Frost, ObjectId


@entry("genesis::init")
def init(ctx: TxContext, config: dict[str, Any]) -> dict[str, Any]:
    """Create every singleton and the first committee (the chain's own first transaction)."""
    ctx.require_chain()
    try:
        coin.create_treasury(ctx)
        system.create_system(
            ctx,
            config["n_shards"],
            config["max_epochs_ahead"],
            config["storage_price"],
            config["write_price"],
        )
        staking.create_staking(
            ctx,
            config["n_shards"],
            config["epoch_duration_ms"],
            config.get("active_set_max", MAINNET_ACTIVE_SET_SIZE_LIMIT),
        )
        nodes = {}
        for node in config["nodes"]:
            pool_obj, cap = staking.create_pool(ctx, node["operator"], node)
            stake = node["stake"]
            treasury = ctx.read_singleton(Treasury)
            if stake < MIN_STAKE or treasury.unissued < stake:
                raise Abort("EInsufficientStake", f"invalid initial stake for {node['name']}")
            coin.take_supply(ctx, stake)
            pool_obj, pool = ctx.load(StakingPool, pool_obj.id)
            ctx.store(
                pool_obj, replace(pool, pending_stake={**pool.pending_stake, Epoch(1): stake})
            )
            node_id = ObjectId(pool_obj.id)
            initial = StakedWal(node_id, Frost(stake), Epoch(1), StakeState.STAKED, None)
            staked = ctx.create(initial, node["operator"])
            staking_obj, staking_value = staking.staking_state(ctx)
            ctx.store(staking_obj, staking._update_active_set(staking_value, node_id, stake)[0])
            nodes[node["name"]] = {"node_id": node_id, "cap": cap.id, "staked_wal": staked.id}
        for account in config.get("accounts", []):
            if account.get("wal"):
                coin.mint(ctx, account["address"], account["wal"])
            if account.get("gas"):
                ctx.add_gas(account["address"], account["gas"])
        staking.start_first_epoch(ctx)
    except (KeyError, TypeError) as exc:
        raise Abort("EInvalidGenesis", f"genesis configuration is incomplete: {exc}") from None
    return {"nodes": nodes}
