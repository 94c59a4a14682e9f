"""One job of a sweep: it trains, tests and records one model (:func:`run_job`); the sweep runs
its jobs in this process, in local worker processes or on a Dask cluster
(:mod:`ddse_np.experiments.runner`).

A job is a plain function of a JSON-ready dict (:func:`run_job`), so it runs the same everywhere.
Every finished job is appended at once, as one JSON line, to ``results.jsonl`` in the sweep's
directory; running the sweep again skips the cells already there.  A job in progress also writes
a resumable checkpoint of its run to ``partial/`` in the sweep's directory every
``PARTIAL_EVERY_SECONDS`` (at the end of an epoch); a job started again finds it and continues the
run where it was (on numpy with the same results bit for bit as a run done in one go, since
training resumes exactly), so a sweep killed mid-job loses minutes, not the job.  A job asked to
stop (its ``should_stop``: a signal) saves its partial run after the batch it is on.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from ..errors import DDSEError
from ..training.config import TrainConfig, differing
from ..training.interrupt import worker_should_stop

# how often a running job saves its resumable state (at an epoch's end)
PARTIAL_EVERY_SECONDS = 300.0
PARTIAL_DIR = "partial"  # in the sweep directory: one resumable checkpoint per job in progress


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
    for the caller to remove once the result is recorded
    (:func:`~ddse_np.experiments.runner.run_sweep` does).

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
        schedule_ended=trainer.progress.schedule_ended,
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
