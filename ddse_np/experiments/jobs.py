"""Running a sweep's jobs: one job trains, tests and records one model; a sweep runs its jobs in
this process, in local worker processes or on a Dask cluster.

A job is a plain function of a JSON-ready dict (:func:`run_job`), so it runs the same everywhere.
Every finished job is appended at once, as one JSON line, to ``results.jsonl`` in the sweep's
directory; running the sweep again skips the cells already there.  A job in progress also writes
a resumable checkpoint of its run to ``partial/`` in the sweep's directory every
``PARTIAL_EVERY_SECONDS`` (at the end of an epoch); a job started again finds it and continues the
run where it was (on numpy with the same results bit for bit as a run done in one go, since
training resumes exactly), so a sweep killed mid-job loses minutes, not the job.  A sweep asked to
stop (:func:`run_sweep`'s ``should_stop``: a signal) has every running job save its partial run
after the batch it is on.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from ..errors import DDSEError
from ..training.config import TrainConfig, differing
from ..training.interrupt import init_worker, signals_held, worker_should_stop
from .results_file import ResultsFile

# how often a running job saves its resumable state (at an epoch's end)
PARTIAL_EVERY_SECONDS = 300.0
PARTIAL_DIR = "partial"  # in the sweep directory: one resumable checkpoint per job in progress
POLL_SECONDS = 0.5  # how often a sweep waiting for its jobs checks for a stop request


def cell(job) -> tuple:
    return job["method"], job["value"], job["seed"]


@lru_cache(maxsize=2)
def _split(data_dir: str, which: str):
    """The data (an MNIST directory or .npz file) read once per process, not once per job."""
    from ..data.source import load_split

    return load_split(data_dir, which)


def job_file_name(job: dict) -> str:
    """``METHOD-VALUE-seedSEED.h5``: the name of a job's checkpoint (and of its partial run)."""
    value = "default" if job["value"] is None else job["value"]
    return f"{job['method']}-{value}-seed{job['seed']}.h5"


def where(progress) -> str:
    """Where a run stands: 'after epoch E' at an epoch's end, else 'in epoch E+1 after batch B'."""
    if progress.batch == 0:
        return f"after epoch {progress.epoch}"
    return f"in epoch {progress.epoch + 1} after batch {progress.batch}"


def _start_or_resume(config: TrainConfig, data_dir: str, partial: Path | None):
    """(trainer, seconds already spent, note): the job's run continued from its partial checkpoint
    when one holds this job's settings and data, else a fresh start (the note says which)."""
    from ..training.resume import resume_run
    from ..training.trainer import Trainer

    train = _split(data_dir, "train")
    if partial is not None and partial.exists():
        from ..files.checkpoint import load

        try:
            saved = TrainConfig.from_dict(load(partial)[1]["train"]["config"]).recorded()
            wanted = config.recorded()
            if saved != wanted:
                raise DDSEError(f"it was made with other settings ({differing(saved, wanted)[0]})")
            trainer = resume_run(partial, train)
        except (DDSEError, KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
            fresh = Trainer.start(train, config, data_dir=data_dir)
            return fresh, 0.0, f"partial run {partial.name} not used: {exc}"
        spent = sum(s for s in trainer.history["seconds"] if s)
        return trainer, spent, f"resumed from a partial run {where(trainer.progress)}"
    return Trainer.start(train, config, data_dir=data_dir), 0.0, None


class JobStopped(DDSEError):
    """A job stopped on request (a signal) before its end, its partial run saved when it could be;
    ``started`` is False for a job stopped before it began (nothing to say about it)."""

    def __init__(self, message: str, started: bool = True):
        super().__init__(message)
        self.started = started


def run_job(
    job: dict,
    data_dir: str,
    checkpoint_dir: str | None = None,
    partial_dir: str | None = None,
    should_stop=None,
) -> dict:
    """Train and test one job; returns its result row.  Runs in any process.

    The model tested (and saved with ``checkpoint_dir``) is the one the config keeps
    (``keep``: the best-validation epoch by default); ``val_error`` is its validation error.
    With ``partial_dir``, the run's resumable state is saved there at the first epoch end
    ``PARTIAL_EVERY_SECONDS`` after the start or the last save, and a run found there is
    continued instead of started again (``note`` says so; ``seconds`` then adds the seconds of
    the epochs already done, not the setup or the work lost since the last save).  A save that
    fails (a full disk) is noted and not tried again; the job goes on.  The partial file is left
    for the caller to remove once the result is recorded (:func:`run_sweep` does).

    ``should_stop()`` (default: :func:`~ddse_np.training.interrupt.worker_should_stop`) is polled
    after every batch; when it turns true the run's state is saved to ``partial_dir`` at once and
    :class:`JobStopped` is raised, saying where the run stood.
    """
    from ..training.run import SavePolicy, run_training

    should_stop = should_stop or worker_should_stop
    if should_stop():  # a job a pool had already handed to a worker when the sweep was stopped
        raise JobStopped(f"{job_file_name(job)} not started", started=False)
    started = time.perf_counter()
    config = TrainConfig.from_dict(job["config"])
    partial = _partial_path(partial_dir, job)
    trainer, spent, note = _start_or_resume(config, data_dir, partial)
    policy = SavePolicy(partial, every_seconds=PARTIAL_EVERY_SECONDS, at_end=False, keep_going=True)
    result = run_training(trainer, _split(data_dir, "test"), policy, should_stop)
    row = dict(
        sweep=job["sweep"],
        method=job["method"],
        value=job["value"],
        seed=job["seed"],
        lr=config.lr,
        epochs=len(trainer.history["epoch"]),
        steps=trainer.progress.step,
        seconds=spent + time.perf_counter() - started,
    )
    notes = _join(note, *result.notes)
    if result.fault is not None:  # a diverged run is a result too: recorded, not plotted
        failed = dict(val_error=None, test_error=None, checkpoint=None)
        return dict(row, **failed, note=_join(str(result.fault), notes))
    if not result.finished:
        kept = (
            "partial run saved"
            if result.stop_saved
            else f"no partial run saved ({notes or 'none kept'})"
        )
        raise JobStopped(f"{job_file_name(job)} stopped {where(trainer.progress)}: {kept}")
    path = _save_kept(result, Path(checkpoint_dir) / job_file_name(job)) if checkpoint_dir else None
    val_error = (
        trainer.progress.best_val_error
        if trainer.keeps_best
        else _finite(trainer.history["val_error"][-1])
    )
    return dict(
        row, val_error=val_error, test_error=result.test["error"], checkpoint=path, note=notes
    )


def _partial_path(partial_dir, job: dict) -> Path | None:
    """Where the job's partial run lives, with what a save killed midway (SIGKILL) left removed."""
    if not partial_dir:
        return None
    partial = Path(partial_dir) / job_file_name(job)
    if partial.parent.is_dir():
        for leftover in partial.parent.glob(partial.name + ".tmp-*"):
            leftover.unlink(missing_ok=True)
    return partial


def _save_kept(result, path: Path) -> str:
    """Save the run's kept model (no resume state) at ``path``; returns the path as a string."""
    from ..files.checkpoint import save

    trainer = result.trainer
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = dict(config=trainer.config.recorded(), progress=asdict(trainer.progress))
    save(str(path), result.model, trainer.history, extra)
    return str(path)


def _join(*notes) -> str | None:
    return "; ".join(filter(None, notes)) or None


def _finite(x):
    return x if x is not None and math.isfinite(x) else None


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
    (:func:`run_job`), at its absolute path, which Dask workers must be able to write (a shared file
    system).

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
        _run_on_dask(scheduler, connect_timeout, todo, args, record.collect, should_stop)
    elif workers > 1:
        _run_in_pool(workers, todo, args, record.collect, should_stop)
    else:
        for job in todo:
            if should_stop():
                break
            try:
                record.finished(run_job(job, *args, should_stop=should_stop))
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


def _wait_all(futures, wait, collect, should_stop, stop):
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
                    futures.append(pool.submit(run_job, job, *args))
            except BrokenProcessPool as exc:  # a worker died already: the rest end with it
                futures.append(Future())
                futures[-1].set_exception(exc)
        try:
            _wait_all(
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


class _DaskStop:
    """``should_stop`` of a job on a Dask worker: true once the sweep has set the cluster-wide
    event ``name`` (asked of the scheduler at most every POLL_SECONDS)."""

    def __init__(self, name: str):
        self.name, self.next_check, self.seen = name, 0.0, False

    def __call__(self) -> bool:
        if not self.seen and time.monotonic() >= self.next_check:
            from distributed import Event

            self.seen, self.next_check = Event(self.name).is_set(), time.monotonic() + POLL_SECONDS
        return self.seen


def _run_on_dask(scheduler: str, connect_timeout: float, todo, args, collect, should_stop):
    """The jobs on the Dask cluster at ``scheduler``; a stop sets a cluster-wide event that the
    jobs poll, so running ones save their partial runs and queued ones end at once."""
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
            return distributed.wait(
                list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED"
            )
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
            return set(), pending

    with client:
        name = f"ddse-sweep-stop-{uuid.uuid4().hex}"
        event = distributed.Event(name, client=client)
        futures = [
            client.submit(run_job, job, *args, should_stop=_DaskStop(name), pure=False)
            for job in todo
        ]
        _wait_all(futures, wait, collect, should_stop, event.set)
