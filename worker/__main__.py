"""`python -m worker`: run the worker until SIGINT/SIGTERM."""

import asyncio

from core.logging import configure_logging
from core.process import exit_hard
from core.settings import get_settings
from worker.main import run


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    exit_hard(main)
