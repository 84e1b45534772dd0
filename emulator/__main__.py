"""`python -m emulator [flags]`: print the connection string first, then serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys

from .config import parse_config
from .server import print_first_line, serve


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(config, print_first_line))
    except OSError as exc:  # e.g. the port is taken
        print(f"emulator: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
