"""Process exit that survives the Temporal runtime's interpreter-finalization abort.

After a Temporal runtime has run, CPython can abort at exit ("PyGILState_Release ...
finalizing", temporalio sdk-python#300). Every entry point flushes and leaves through
`os._exit` with its real exit code instead of running interpreter finalization.
"""

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable


def flush_and_exit(code: int) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def exit_hard(main: Callable[[], int]) -> None:
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    flush_and_exit(code)
