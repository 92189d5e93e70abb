"""Pure protocol layer: types, BCS, Merkle trees, RedStuff RS2 encoding, metadata, proofs.

Nothing in this package does I/O; every layer above builds on it.
"""
