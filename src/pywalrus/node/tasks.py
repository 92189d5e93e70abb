"""Keeping a node's long-running tasks alive: backoff, retries, and a supervisor.

A node must never need a human to restart it. Its tasks (the event follower, blob sync, shard
sync, epoch sync reports, the scrub) wait out chain and peer outages by retrying with a growing
pause; a task that dies anyway, from an error nobody foresaw, is logged with its traceback,
counted, and started again by the supervisor after a pause.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from prometheus_client import Counter

log = logging.getLogger("pywalrus.node.tasks")
T = TypeVar("T")

FIRST_PAUSE_S = 0.2
MAX_PAUSE_S = 30.0
HEALTHY_RUN_S = 60.0
"""A task that ran this long before dying starts again after the shortest pause."""


class Backoff:
    """Pauses that double from `first` up to `cap`, with ±25 % jitter so that nodes retrying
    the same outage do not come back in lockstep."""

    def __init__(self, first: float | None = None, cap: float | None = None) -> None:
        self.first = FIRST_PAUSE_S if first is None else first
        self.cap = MAX_PAUSE_S if cap is None else cap
        self._next = self.first

    def next(self) -> float:
        pause = self._next
        self._next = min(self.cap, self._next * 2)
        return pause * random.uniform(0.75, 1.25)

    def reset(self) -> None:
        self._next = self.first


async def retrying(
    what: str,
    operation: Callable[[], Awaitable[T]],
    retry_on: tuple[type[BaseException], ...],
    on_failure: Callable[[BaseException], None] | None = None,
) -> T:
    """`operation()` until it succeeds; failures of the kinds in `retry_on` (an unreachable
    chain or peer) are logged and retried after a growing pause, others propagate."""
    backoff = Backoff()
    while True:
        try:
            return await operation()
        except retry_on as exc:
            if on_failure is not None:
                on_failure(exc)
            pause = backoff.next()
            log.warning("%s failed, retrying in %.1f s: %s", what, pause, exc)
            await asyncio.sleep(pause)


class Supervisor:
    """Runs named tasks and restarts those that die; `stop` cancels them all."""

    def __init__(self, node_name: str, restarts: Counter | None = None) -> None:
        self.node_name = node_name
        self.restarts = restarts
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def spawn(
        self,
        name: str,
        factory: Callable[[], Coroutine[Any, Any, None]],
        kind: str | None = None,
    ) -> asyncio.Task[None]:
        """Run `factory()` as task `name` (one at a time per name): restarted whenever it
        raises, finished when it returns. `kind` labels its restarts (default: the name)."""
        current = self._tasks.get(name)
        if current is not None and not current.done():
            return current
        task = asyncio.create_task(self._supervise(name, factory, kind or name), name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._forget(name, done))
        return task

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]

    async def _supervise(
        self, name: str, factory: Callable[[], Coroutine[Any, Any, None]], kind: str
    ) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        while True:
            started = loop.time()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if loop.time() - started > HEALTHY_RUN_S:
                    backoff.reset()
                pause = backoff.next()
                log.exception(
                    "node %s: task %s died; restarting it in %.1f s", self.node_name, name, pause
                )
                if self.restarts is not None:
                    self.restarts.labels(kind).inc()
                await asyncio.sleep(pause)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
