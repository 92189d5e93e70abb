"""The coordination chain: our stand-in for Sui running the Walrus contracts.

A single-sequencer ledger of objects, Ed25519-signed transactions, events and signed,
hash-chained checkpoints, persisted in SQLite and served over JSON-RPC.
"""
