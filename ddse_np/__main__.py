"""The ``ddse`` command's entry point: ``ddse``, ``python -m ddse_np`` and ``python cli.py``.

Loading the command line (NumPy, click, h5py, rich) takes 0.3-0.8 s, during which Python's own
SIGINT handler would turn a Ctrl-C into a ``KeyboardInterrupt`` traceback.  :func:`main` first
makes a Ctrl-C in that window end the process with the usual one line and status 130 (nothing
has been read or written yet), then hands SIGINT back and runs :func:`ddse_np.cli.main`, whose
commands treat it as usual.  This module, like the package's ``__init__``, imports nothing heavy.
"""

import os
import signal
import sys


def _interrupted_while_loading(signum, frame):
    sys.stderr.write("error: interrupted\n")
    sys.stderr.flush()
    os._exit(128 + signum)  # mid-import: no exception may unwind through a half-loaded module


def main():
    # Only over Python's default handler: a SIGINT ignored by the caller (``ddse ... &`` in a
    # script) stays ignored.
    take_over = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    try:
        if take_over:
            signal.signal(signal.SIGINT, _interrupted_while_loading)
    except ValueError:  # called outside the main thread, where no handler can be set
        take_over = False
    try:
        from .cli import main as run_command

        if take_over:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        run_command()
    except KeyboardInterrupt:  # in the few bytecodes before the command's own handling begins
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
