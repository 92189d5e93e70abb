"""Starting pywalrus processes in the background and waiting for them to be healthy."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def start_walrus(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `walrus ARGS…` detached from this process' terminal, logging to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pywalrus.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def session_processes(sid: int) -> list[int]:
    """Live processes of session `sid` (every testbed process leads its own session, and its
    helpers, such as the chain's precheck workers, stay in it). Linux only: elsewhere, []."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session …: comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return sorted(found)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_healthy(
    url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url` until it answers 2xx; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_ok(url):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was up")
        time.sleep(0.05)
    raise TimeoutError(f"{url} was not healthy within {timeout} s")


@contextlib.contextmanager
def service_process(
    verb: str, config: Path, log_path: Path, *flags: str, timeout: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """A `walrus VERB --config CONFIG FLAGS…` HTTP service (aggregator, upload-relay, …) on
    free loopback ports, healthy: the process, its base URL and its metrics URL. Stopped with
    SIGTERM (then SIGKILL) after."""
    from pywalrus.testbed.ports import free_ports

    port, metrics_port = free_ports(2)
    process = start_walrus(
        [
            verb,
            "--config",
            str(config),
            "--bind-address",
            f"127.0.0.1:{port}",
            "--metrics-address",
            f"127.0.0.1:{metrics_port}",
            *flags,
        ],
        log_path,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/status", timeout, process)
        yield process, f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def aggregator_process(
    config: Path, log_path: Path, *flags: str, timeout: float = 30.0
) -> contextlib.AbstractContextManager[tuple[subprocess.Popen[bytes], str, str]]:
    """`service_process` of a `walrus aggregator`."""
    return service_process("aggregator", config, log_path, *flags, timeout=timeout)
