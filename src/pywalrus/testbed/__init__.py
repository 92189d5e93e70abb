"""Orchestration of a local network: genesis, keys, configs and processes."""
