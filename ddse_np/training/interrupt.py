"""Turn SIGINT / SIGTERM into a polite request to stop after the current batch.

The training loop polls :meth:`StopRequest.__call__`; the command line then
saves a resumable checkpoint and exits (130 for SIGINT, 143 for SIGTERM).
A second signal while stopping ends the process at once (the checkpoint
being written, if any, is atomic: the previous file stays intact).

A sweep's process-pool workers (:func:`init_worker`) stop the same way: on a signal of
their own (a Ctrl-C reaches the whole process group) or when the parent sets the
pool's shared event; the job polls :func:`worker_should_stop`.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether a stop was asked for: called, True once SIGINT or SIGTERM has arrived."""

    def __init__(self):
        self.signum = None

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        """The signal's name ('SIGINT', 'SIGTERM'), '' before any."""
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_code(self) -> int:
        """The shell's code for death by that signal: 128 + its number (130, 143)."""
        return 128 + (self.signum or 0)

    def _handle(self, signum, frame):
        if self.signum is not None:  # asked twice: stop now
            raise KeyboardInterrupt
        self.signum = signum


@contextmanager
def stop_on_signals():
    """Within the block, SIGINT and SIGTERM set the yielded request instead of killing."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signals can only be caught in the main thread
        return
    previous = {s: signal.signal(s, request._handle) for s in SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def signals_held():
    """Within the block, SIGINT and SIGTERM are held by this thread (delivered when it ends) and
    blocked in the processes it starts, which inherit the signal mask: a Ctrl-C while a process
    pool starts its helpers then never reaches a Python interpreter half-way through its start-up
    (a "Fatal Python error" on the terminal).  Pool workers unblock them in :func:`init_worker`."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_worker_request = StopRequest()  # in a pool worker: set by its own SIGINT / SIGTERM
_worker_event = None  # in a pool worker: the parent's multiprocessing.Event


def init_worker(event):
    """Initializer of a pool worker: SIGINT and SIGTERM, and ``event`` set by the parent, ask
    the running job to stop (it saves its partial run) instead of killing the process."""
    global _worker_event
    _worker_event = event
    for s in SIGNALS:
        signal.signal(s, _worker_request._handle)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # started under signals_held


def worker_should_stop() -> bool:
    """True in a pool worker asked to stop; always False in a process not made by init_worker."""
    return _worker_request() or (_worker_event is not None and _worker_event.is_set())
