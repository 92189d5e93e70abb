"""How the CLI runs an SDK operation: its result is handed back without being formatted."""

from __future__ import annotations

from pywalrus.cli import common


def test_run_never_formats_the_operation_result() -> None:
    # asyncio's runner formats its main task when it restores the SIGINT handler; a task whose
    # result is a whole blob cost a repr() of the blob (seconds and hundreds of MB at 64 MiB).
    formatted = []

    class Blob:
        def __repr__(self) -> str:
            formatted.append(self)
            return "Blob()"

    async def operation() -> Blob:
        return Blob()

    assert isinstance(common.run(operation), Blob)
    assert formatted == []
