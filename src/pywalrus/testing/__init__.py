"""Test tools over the whole stack: `InProcessNetwork`, a local network in one event loop."""

from pywalrus.testing.network import InProcessNetwork

__all__ = ["InProcessNetwork"]
