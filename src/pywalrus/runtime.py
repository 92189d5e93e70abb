"""What every long-running pywalrus process shares: logging, and waiting for SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


async def until_terminated() -> None:
    """Return when the process gets SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine with the standard log format."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    asyncio.run(main)
