"""A sweep's jobs on a Dask distributed cluster (``ddse sweep --scheduler``): submitted to the
scheduler, waited for by :mod:`ddse_np.experiments.runner`, and stopped through a cluster-wide
event."""

from __future__ import annotations

import time
from contextlib import contextmanager

from ..errors import DDSEError
from . import jobs as sweep_jobs  # sweep_jobs.run_job, looked up at each call (tests wrap it)


class _DaskStop:
    """``should_stop`` of a job on a Dask worker: true once the sweep has set the cluster-wide
    event ``name`` (asked of the scheduler at most every ``poll`` seconds)."""

    def __init__(self, name: str, poll: float):
        self.name, self.poll, self.next_check, self.seen = name, poll, 0.0, False

    def __call__(self) -> bool:
        if not self.seen and time.monotonic() >= self.next_check:
            from distributed import Event

            self.seen, self.next_check = Event(self.name).is_set(), time.monotonic() + self.poll
        return self.seen


@contextmanager
def on_dask(scheduler: str, connect_timeout: float, todo, args, poll: float):
    """Submit the jobs ``todo`` (each ``run_job(job, *args)``) to the Dask cluster at
    ``scheduler`` and yield (futures, wait, stop) while connected: ``wait(pending)`` returns
    (done, pending) after at most ``poll`` seconds; ``stop()`` sets a cluster-wide event that the
    jobs poll, so running ones save their partial runs and queued ones end at once.  Raises
    DDSEError in one line when dask.distributed is missing or the scheduler cannot be reached
    within ``connect_timeout`` seconds."""
    import asyncio
    import uuid

    try:
        import distributed
    except ImportError:
        raise DDSEError(
            "--scheduler needs dask.distributed: pip install 'dask[distributed]' (in a checkout: "
            "pip install -e '.[dask]')"
        ) from None
    try:
        client = distributed.Client(scheduler, timeout=connect_timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DDSEError(f"cannot reach the Dask scheduler at {scheduler!r}: {reason}") from None

    def wait(pending):
        try:
            return distributed.wait(list(pending), timeout=poll, return_when="FIRST_COMPLETED")
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
            return set(), pending

    with client:
        name = f"ddse-sweep-stop-{uuid.uuid4().hex}"
        event = distributed.Event(name, client=client)
        stop = _DaskStop(name, poll)
        futures = [
            client.submit(sweep_jobs.run_job, job, *args, should_stop=stop, pure=False)
            for job in todo
        ]
        yield futures, wait, event.set
