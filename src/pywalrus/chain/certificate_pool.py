"""Certificate checks in a worker process, batched, off the sequencer's core.

A BLS certificate check costs about 2 ms, as much as executing the transaction. The RPC server
hands each certifying transaction's certificate to one worker process before queueing the
transaction; certificates that arrive while the worker is busy go together in its next round
trip, so under load one inter-process call carries many checks. A certificate the worker
accepted is remembered (`certify.remember_verified`) for exactly its committee, epoch and
bytes; the ledger checks anything else itself, so a missing or failed worker only costs speed.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from pywalrus.chain.contracts import certify

log = logging.getLogger(__name__)

MAX_BATCH = 64


class CertificatePool:
    """One worker process that checks certificates in batches."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self._pending: list[tuple[certify.CertificateKey, asyncio.Future[bool]]] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None

    def start(self) -> None:
        try:
            self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        except OSError as exc:
            log.warning("no certificate worker process (%s); checking inline", exc)

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def precheck(self, key: certify.CertificateKey) -> None:
        """Check one certificate in the worker; remember it if valid."""
        if self._executor is None:
            return
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if not self._draining:
            self._draining = True
            self._drainer = asyncio.create_task(self._drain(self._executor))
        if await future:
            certify.remember_verified(key)

    async def _drain(self, executor: ProcessPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                keys = [key for key, _ in batch]
                try:
                    results = await loop.run_in_executor(executor, certify.check_certificates, keys)
                except Exception as exc:  # a broken worker: the ledger checks them itself
                    log.warning("certificate worker failed: %s", exc)
                    results = [False] * len(batch)
                for (_, future), ok in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(ok)
        finally:
            self._draining = False
