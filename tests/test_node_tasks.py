"""The node's task supervision: a task that dies is logged, counted and started again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pywalrus.core.errors import ChainUnavailable
from pywalrus.node import tasks
from pywalrus.node.metrics import NodeMetrics
from pywalrus.node.tasks import Backoff, Supervisor, retrying


async def test_a_task_that_dies_is_logged_counted_and_restarted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "FIRST_PAUSE_S", 0.01)
    metrics = NodeMetrics()
    supervisor = Supervisor("node-x", metrics.task_restarts)
    runs: list[int] = []
    finished = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise KeyError("a bug nobody foresaw")
        finished.set()

    with caplog.at_level(logging.ERROR, logger="pywalrus.node.tasks"):
        supervisor.spawn("follower", flaky)
        assert supervisor.running("follower")
        # A second spawn of a running name is the same task, not a second copy.
        supervisor.spawn("follower", flaky)
        await asyncio.wait_for(finished.wait(), 10)
        await asyncio.sleep(0)
    assert runs == [0, 1, 2]
    assert metrics.task_restarts.labels("follower")._value.get() == 2
    died = [r for r in caplog.records if "task follower died" in r.getMessage()]
    assert len(died) == 2 and all(r.exc_info is not None for r in died)
    await asyncio.sleep(0.01)
    assert not supervisor.running("follower")  # it returned: done, not restarted
    await supervisor.stop()


async def test_stop_cancels_running_tasks() -> None:
    supervisor = Supervisor("node-x")
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = supervisor.spawn("forever", forever)
    await asyncio.wait_for(started.wait(), 10)
    await supervisor.stop()
    assert task.cancelled()


async def test_retrying_waits_out_listed_failures_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "FIRST_PAUSE_S", 0.01)
    failures: list[BaseException] = []
    attempts = 0

    async def chain_call() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 4:
            raise ChainUnavailable("the chain is restarting")
        return "answer"

    result = await retrying("chain call", chain_call, (ChainUnavailable,), failures.append)
    assert (result, attempts, len(failures)) == ("answer", 4, 3)

    async def broken() -> None:
        raise ValueError("not an outage")

    with pytest.raises(ValueError):
        await retrying("broken", broken, (ChainUnavailable,))


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=1.0, cap=8.0)
    pauses = [backoff.next() for _ in range(6)]
    for pause, nominal in zip(pauses, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.75 * nominal <= pause <= 1.25 * nominal
    backoff.reset()
    assert backoff.next() <= 1.25
