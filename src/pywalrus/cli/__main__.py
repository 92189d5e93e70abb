"""`python -m pywalrus.cli` and the `walrus` console script."""

import sys

from pywalrus.cli.main import main


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
