"""Running a sweep's jobs (:func:`run_sweep`): in this process, in local worker processes, or on
a Dask cluster (:mod:`ddse_np.experiments.dask_cluster`); each finished job recorded at once, and a
stop request (a signal) passed on to every running job, which saves its partial run
(:mod:`ddse_np.experiments.jobs`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DDSEError
from ..training.interrupt import init_worker, signals_held
from . import jobs as sweep_jobs  # sweep_jobs.run_job, looked up at each call (tests wrap it)
from .jobs import PARTIAL_DIR, JobStopped, cell, job_file_name
from .results_file import ResultsFile

POLL_SECONDS = 0.5  # how often a sweep waiting for its jobs checks for a stop request


class SweepStopped(DDSEError):
    """A sweep stopped before its end, after recording the jobs that finished.  ``cause`` is None
    for a stop on request (a signal), else what stopped it (:data:`WORKER_LOST`)."""

    def __init__(self, message: str, cause: str | None = None):
        super().__init__(message)
        self.cause = cause


WORKER_LOST = (
    "a worker process that died abruptly "
    "(killed by SIGKILL or the out-of-memory killer, or crashed)"
)


def _worker_lost(exc: BaseException) -> bool:
    """True for the error of a job whose worker process died without a word: a local pool's
    BrokenProcessPool (which ends every job of the pool) or Dask's KilledWorker (the task's
    workers died ``allowed-failures`` times)."""
    import sys
    from concurrent.futures.process import BrokenProcessPool

    distributed = sys.modules.get("distributed")  # only a Dask sweep has it loaded
    return isinstance(exc, BrokenProcessPool) or (
        distributed is not None and isinstance(exc, distributed.KilledWorker)
    )


def run_sweep(
    jobs,
    results: ResultsFile,
    data_dir,
    workers: int = 1,
    scheduler: str | None = None,
    checkpoint_dir=None,
    on_result=None,
    connect_timeout: float = 10.0,
    should_stop=lambda: False,
):
    """Run the jobs not yet in ``results``, locally (``workers`` processes) or on a Dask cluster;
    returns how many were recorded.

    Jobs in progress keep their resumable state in ``PARTIAL_DIR`` of the results' directory
    (:func:`~ddse_np.experiments.jobs.run_job`), at its absolute path, which Dask workers must be
    able to write (a shared file system).

    At most one local process per job is started, however many ``workers`` are asked for.

    With ``scheduler``, the connection is made first, within ``connect_timeout`` seconds; an
    unreachable or malformed address raises DDSEError before anything is written.

    ``should_stop()`` is polled every ``POLL_SECONDS`` while jobs run.  Once it is true (or a job
    stopped by a signal of its own), no queued job starts and the running ones save their partial
    runs and stop; the jobs that did finish are recorded and :class:`SweepStopped` says where each
    stopped job stood.  A job that fails instead stops the others the same way; its error is
    raised once they have stopped and the finished ones are recorded.  A worker process that
    dies abruptly (SIGKILL, the out-of-memory killer, a crash) ends the sweep like a stop, with
    ``cause`` :data:`WORKER_LOST`: the local pool (CPython's ProcessPoolExecutor) then sends
    its other workers SIGTERM, so that their jobs save their partial runs (which a broken pool
    cannot report), and on Dask the others are asked to stop as on a signal.
    """
    todo = [job for job in jobs if cell(job) not in results.done()]
    workers = max(1, min(workers, len(todo)))  # never more processes than jobs
    partial_dir = results.directory.resolve() / PARTIAL_DIR
    args = (str(data_dir), checkpoint_dir, str(partial_dir))
    record = _Recorder(results, partial_dir, on_result)
    if scheduler:
        from .dask_cluster import on_dask

        with on_dask(scheduler, connect_timeout, todo, args, POLL_SECONDS) as (futures, wait, stop):
            wait_all(futures, wait, record.collect, should_stop, stop)
    elif workers > 1:
        _run_in_pool(workers, todo, args, record.collect, should_stop)
    else:
        for job in todo:
            if should_stop():
                break
            try:
                record.finished(sweep_jobs.run_job(job, *args, should_stop=should_stop))
            except JobStopped as exc:  # a job in this process is never stopped before it starts
                record.stopped.append(str(exc))
                break
    if partial_dir.is_dir() and not any(partial_dir.iterdir()):
        partial_dir.rmdir()
    if len(record.rows) < len(todo):  # only a stop leaves jobs undone without an exception
        raise record.stop_error(len(todo))
    return len(record.rows)


class _Recorder:
    """The finished jobs of one :func:`run_sweep`, recorded as they complete."""

    def __init__(self, results: ResultsFile, partial_dir: Path, on_result=None):
        self.results, self.partial_dir, self.on_result = results, partial_dir, on_result
        self.rows, self.stopped, self.lost = [], [], []

    def finished(self, row: dict):
        self.results.append(row)
        # its partial run is removed only once its result is on disk
        (self.partial_dir / job_file_name(row)).unlink(missing_ok=True)
        self.rows.append(row)
        if self.on_result:
            self.on_result(row)

    def collect(self, future) -> bool:
        """Record a completed job; True when it stopped before its end."""
        try:
            self.finished(future.result())
        except JobStopped as exc:
            if exc.started:
                self.stopped.append(str(exc))
            return True
        except Exception as exc:
            if not _worker_lost(exc):
                raise
            self.lost.append(exc)
            return True
        return False

    def stop_error(self, planned: int) -> SweepStopped:
        """The error of a sweep stopped with ``planned`` jobs to run, of which some finished."""
        done = len(self.rows)
        where = f" in {self.results.path}" if done else ""
        why = f" ({'; '.join(sorted(self.stopped))})" if self.stopped else ""
        kept = f"; partial runs in {self.partial_dir}" if self.partial_dir.is_dir() else ""
        return SweepStopped(
            f"{done} job(s) recorded{where}, {planned - done} not finished{why}{kept}; "
            f"run the same command again to continue",
            WORKER_LOST if self.lost else None,
        )


def wait_all(futures, wait, collect, should_stop, stop):
    """``collect`` every future as it completes.  After each ``wait`` (at most POLL_SECONDS), once
    ``should_stop()`` is true, a job stopped early or one failed, ``stop()`` (once) asks the
    others to stop; the first failure is raised when all have ended."""
    pending, asked, error = set(futures), False, None
    while pending:
        done, pending = wait(pending)
        stopped_early = False
        for future in done:
            try:
                stopped_early |= collect(future)
            except Exception as exc:  # noqa: BLE001  (raised below, once the others have stopped)
                error = error or exc
        if not asked and (error is not None or stopped_early or should_stop()):
            asked = True
            stop()
    if error is not None:
        raise error


def _run_in_pool(workers: int, todo, args, collect, should_stop):
    """The jobs in ``workers`` local processes, which share one stop event (:func:`init_worker`)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context()

    def stop():  # running jobs save their partial runs and stop; queued ones end "not started"
        # (not Future.cancel: a cancelled future of a pool that then breaks never completes)
        event.set()

    event = context.Event()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=init_worker, initargs=(event,)
    ) as pool:
        futures = []
        # the processes start with the first submits: a signal waits until they have
        with signals_held():
            try:
                for job in todo:
                    futures.append(pool.submit(sweep_jobs.run_job, job, *args))
            except BrokenProcessPool as exc:  # a worker died already: the rest end with it
                futures.append(Future())
                futures[-1].set_exception(exc)
        try:
            wait_all(
                futures,
                lambda pending: wait(pending, POLL_SECONDS, FIRST_COMPLETED),
                collect,
                should_stop,
                stop,
            )
        except BaseException:  # a second Ctrl-C, or a failed write: stop the workers, then end
            event.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
