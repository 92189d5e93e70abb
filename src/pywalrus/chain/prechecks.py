"""Signature and certificate checks in worker processes, batched, off the sequencer's core.

The sequencer executes transactions one at a time on one core; checking a transaction's
Ed25519 signature (with its canonical JSON and digest) and a certifying transaction's BLS
certificate (about 2 ms) would cost it as much as the execution. The RPC server therefore hands
each certifying transaction to one of two worker processes before queueing it (a transaction without
certificates is cheaper to check on the sequencer than to send). Transactions that arrive while
the workers are busy go together in the next round trip, so under load one inter-process call
carries many checks.

What a worker accepted is passed on exactly: the transaction's digest and a flag that its
signature is the sender's, and each valid certificate is remembered
(`certify.remember_verified`) for exactly its committee, epoch and bytes. The ledger checks
everything else itself, so missing or failed workers cost only speed.

A worker exits as soon as its parent is gone (a thread in it watches the parent process), so
a chain killed with SIGKILL leaves neither workers nor, once they are gone, multiprocessing's
resource tracker behind.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from pywalrus.chain.contracts import certify
from pywalrus.chain.tx import SignedTransaction
from pywalrus.core.errors import VerificationError

log = logging.getLogger(__name__)

MAX_BATCH = 8
PARENT_CHECK_S = 0.2
"""How often a worker looks whether its parent still lives."""


@dataclass(frozen=True)
class Job:
    """One transaction to check: its signature and its certificates."""

    signed: SignedTransaction
    """The transaction as received."""
    certificates: tuple[certify.CertificateKey, ...]
    """The certificates its calls carry."""


@dataclass(frozen=True)
class Outcome:
    """What the worker found for one job."""

    digest: bytes
    """The transaction's signing digest."""
    signature_valid: bool
    """True if the signature is the sender's over that digest."""
    certificates_valid: tuple[bool, ...]
    """For each certificate of the job, True if it is valid."""


def exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the process that started this one is gone (its children
    are re-parented, so the parent ID changes). Polled, so it holds whichever thread of the
    parent started the worker."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_jobs(jobs: list[Job]) -> list[Outcome]:
    """The checks themselves (in the worker process)."""
    outcomes = []
    for job in jobs:
        try:
            job.signed.verify()
            signature_valid = True
        except VerificationError:
            signature_valid = False
        certificates = tuple(certify.check_certificate(key) for key in job.certificates)
        outcomes.append(Outcome(job.signed.data.signing_digest(), signature_valid, certificates))
    return outcomes


class Prechecks:
    """Worker processes that check transactions in batches, one batch in flight per worker."""

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._pending: list[tuple[Job, asyncio.Future[Outcome | None]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start the workers (none with `workers=0`: every check runs inline)."""
        if self._workers <= 0:
            return
        try:
            self._executor = ProcessPoolExecutor(
                self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
        except OSError as exc:
            log.warning("no precheck worker process (%s); checking inline", exc)

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def check(self, job: Job) -> bool:
        """Check a job in a worker; True if its signature was found valid there.

        Valid certificates are remembered for the ledger, and the transaction's digest is
        handed to it, so that neither is computed again on the sequencer.
        """
        if self._executor is None:
            return False
        future: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        self._pump(self._executor)
        outcome = await future
        if outcome is None:
            return False
        for key, valid in zip(job.certificates, outcome.certificates_valid, strict=True):
            if valid:
                certify.remember_verified(key)
        job.signed.data.use_digest(outcome.digest)
        return outcome.signature_valid

    def _pump(self, executor: ProcessPoolExecutor) -> None:
        """Send what is pending to idle workers; jobs arriving meanwhile wait for a worker."""
        while self._pending and len(self._in_flight) < self._workers:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            task = asyncio.create_task(self._run(executor, batch))
            self._in_flight.add(task)

    async def _run(
        self, executor: ProcessPoolExecutor, batch: list[tuple[Job, asyncio.Future[Outcome | None]]]
    ) -> None:
        outcomes: list[Outcome | None]
        try:
            jobs = [job for job, _ in batch]
            loop = asyncio.get_running_loop()
            outcomes = list(await loop.run_in_executor(executor, run_jobs, jobs))
        except Exception as exc:  # a broken worker: the ledger checks them itself
            log.warning("precheck worker failed: %s", exc)
            outcomes = [None] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.discard(task)
        if self._executor is not None:
            self._pump(self._executor)
