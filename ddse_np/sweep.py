"""Sweeps behind the paper's Figures 3-6 (and the learning rate each method is run at): every
method x every value x every seed, one job each.

A job trains one model from scratch, keeps its best-validation model and evaluates it on the
test set; it is a plain function of a JSON-ready dict (:func:`run_job`), so it runs the same in
this process, in a local process pool, or on a Dask worker.  Every finished job is appended at
once, as one JSON line, to ``results.jsonl`` in the sweep's directory; running the sweep again
skips the cells already there.  A job in progress also writes a resumable checkpoint of its
run to ``partial/`` in the sweep's directory every ``PARTIAL_EVERY_SECONDS`` (at the end of an
epoch); a job started again finds it and continues the run where it was (on numpy with the same
results bit for bit as a run done in one go, since training resumes exactly), so a sweep killed
mid-job loses minutes, not the job.

Budgets that compare like with like: in the ``samples`` sweep (ts/t) every point gets the
SGD steps of the full-data run, its epochs scaled by 1/(ts/t) (at most
``STEP_MATCH_CAP`` times the full-data epochs), and validates every 1/(ts/t) epochs (same cap),
so that it validates, and its plateau schedule waits for progress, after as many steps as on
the full data; the schedule may still end a run sooner, and every result records the steps
it took.  ``lr`` sweeps pick each method's
learning rate by validation error (:func:`pick_lr`), never by test error.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from .config import TrainConfig
from .errors import DDSEError
from .interrupt import init_worker, worker_should_stop
from .models import MODELS, PAPER_NAMES
from .results_file import ResultsFile

METHODS = tuple(MODELS)
SPARSE_METHODS = tuple(name for name, cls in MODELS.items() if cls.sparse)  # the only ones s/n affects

# sweep name -> (TrainConfig field, paper grid, quick grid)   (docs/design.md, Experiments)
SWEEPS = {
    "sparsity": ("sparsity", [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6], [0.1, 0.25, 0.5]),
    "width": ("m", [800, 1024, 1200, 1400, 1600, 1800, 2000], [256, 512, 1024]),
    "samples": ("train_fraction", [0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0], [0.05, 0.25, 1.0]),
    "depth": ("k", [1, 2, 3, 4, 5, 6], [1, 2, 4]),
    "lr": ("lr", [0.005, 0.01, 0.02, 0.05, 0.1], [0.01, 0.02, 0.05, 0.1]),
}
STEP_MATCH_CAP = 20  # samples sweep: epochs = min(ceil(E / (ts/t)), 20 E): step-matched down to ts/t = 0.05
# settings every job of a budget shares (the rest are TrainConfig defaults): the paper budget is
# the README's recipe; the quick one trains a half-width network for 15 epochs on a quarter of the
# data, so that the four quick sweeps take about an hour of CPU time
BUDGETS = {
    "paper": dict(epochs=40, lr=0.05, patience=3, min_lr=5e-5, aug_rotate=10, aug_scale=0.1, aug_noise=0.05),
    "quick": dict(epochs=15, lr=0.05, patience=3, min_lr=5e-5, m=512, train_fraction=0.25, val_size=2000),
}
DEFAULT_BUDGET = "quick"
FORMAT = 2  # of a sweep directory; 2: best-validation models tested, val_error and steps recorded
# LISTA diverges at lr 0.05 (README, recipe): it runs at the paper's 0.01 in every budget
METHOD_SETTINGS = {"lista": dict(lr=0.01)}
PARTIAL_EVERY_SECONDS = 300.0  # how often a running job saves its resumable state (at an epoch's end)
PARTIAL_DIR = "partial"  # in the sweep directory: one resumable checkpoint per job in progress
POLL_SECONDS = 0.5  # how often a sweep waiting for its jobs checks for a stop request


def plan(sweep: str, budget: str, seeds: int, methods=METHODS, values=None, overrides=None,
         method_overrides=None):
    """The jobs of a sweep: dicts with sweep, method, value, seed and the full training config.

    ``overrides`` (setting -> value) apply to every job, ``method_overrides`` (method ->
    {setting: value}) to one method's jobs, after the budget and its per-method settings.
    Methods a parameter does not affect (baselines I-IV for s/n) run once, at the default
    value, and are drawn flat.  In the samples sweep each job's epochs and validation interval
    are step-matched.
    """
    if sweep not in SWEEPS:
        raise DDSEError(f"unknown sweep {sweep!r}: choose one of {', '.join(SWEEPS)}")
    if budget not in BUDGETS:
        raise DDSEError(f"unknown budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    field, paper_grid, quick_grid = SWEEPS[sweep]
    values = values or (paper_grid if budget == "paper" else quick_grid)
    fixed = sorted({"model", "seed", field} & set(overrides or {}).union(*(method_overrides or {}).values()))
    if fixed:
        raise DDSEError(f"--set {fixed[0]}: the sweep sets {fixed[0]} itself (the method, the seed and the "
                        f"swept {field} of each job)")
    base = {**BUDGETS[budget], **(overrides or {})}
    jobs = []
    for method in methods:
        flat = sweep == "sparsity" and method not in SPARSE_METHODS
        for value in ([None] if flat else values):
            for seed in range(seeds):
                config = {**base, **METHOD_SETTINGS.get(method, {}), **(method_overrides or {}).get(method, {}),
                          "model": method, "seed": seed}
                if value is not None:
                    config[field] = value
                if sweep == "samples" and value is not None:  # the steps and the schedule of a full-data run
                    config["epochs"] = step_matched_epochs(config.get("epochs", TrainConfig.epochs), value)
                    config["val_every"] = step_matched_epochs(config.get("val_every", TrainConfig.val_every), value)
                jobs.append(dict(sweep=sweep, method=method, value=value, seed=seed, config=config))
    return jobs


def step_matched_epochs(full_epochs: int, fraction: float) -> int:
    """Epochs that give a run on ``fraction`` of the data at least the SGD steps of ``full_epochs``
    on all of it (to within the rounding of batches per epoch), at most STEP_MATCH_CAP x
    ``full_epochs``.  The samples sweep scales the epochs between validations the same way, so
    that validations, and the plateau schedule's patience (counted in validations), come after
    as many steps as in a full-data run."""
    return min(math.ceil(full_epochs / fraction - 1e-9), STEP_MATCH_CAP * full_epochs)


def pick_lr(rows: list) -> dict:
    """method -> the learning rate of lowest mean validation error over seeds, from an lr sweep's
    rows.  A learning rate at which any seed diverged (or was not run for every seed of the
    method) is not eligible; a method with no eligible rate is left out."""
    picks = {}
    for method in {r["method"] for r in rows}:
        mine = [r for r in rows if r["method"] == method]
        seeds = {r["seed"] for r in mine}
        scores = {}
        for lr in sorted({r["value"] for r in mine}):
            errors = [r.get("val_error") for r in mine if r["value"] == lr]
            if len(errors) == len(seeds) and all(e is not None for e in errors):
                scores[lr] = sum(errors) / len(errors)
        if scores:
            picks[method] = min(scores, key=lambda lr: (scores[lr], lr))
    return picks


def cell(job) -> tuple:
    return job["method"], job["value"], job["seed"]


@lru_cache(maxsize=2)
def _split(data_dir: str, which: str):
    """MNIST read once per process, not once per job."""
    from .data import load_split

    return load_split(data_dir, which)


def job_file_name(job: dict) -> str:
    """``METHOD-VALUE-seedSEED.h5``: the name of a job's checkpoint (and of its partial run)."""
    value = "default" if job["value"] is None else job["value"]
    return f"{job['method']}-{value}-seed{job['seed']}.h5"


def _differing(a: dict, b: dict) -> list:
    """The keys whose values differ between two settings dicts, sorted."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _start_or_resume(config: TrainConfig, data_dir: str, partial: Path | None):
    """(trainer, seconds already spent, note): the job's run continued from its partial checkpoint
    when one holds this job's settings and data, else a fresh start (the note says which)."""
    from .train import Trainer

    train = _split(data_dir, "train")
    if partial is not None and partial.exists():
        from .checkpoint import load

        try:
            saved, wanted = TrainConfig.from_dict(load(partial)[1]["train"]["config"]).to_dict(), config.to_dict()
            if saved != wanted:
                raise DDSEError(f"it was made with other settings ({_differing(saved, wanted)[0]})")
            trainer = Trainer.from_checkpoint(partial, train)
        except (DDSEError, KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
            return Trainer.start(train, config), 0.0, f"partial run {partial.name} not used: {exc}"
        spent = sum(s for s in trainer.history["seconds"] if s)
        return trainer, spent, f"resumed from a partial run at epoch {trainer.progress.epoch}"
    return Trainer.start(train, config), 0.0, None


class JobStopped(DDSEError):
    """A job stopped on request (a signal) before its end, its partial run saved when it could be."""


def run_job(job: dict, data_dir: str, checkpoint_dir: str | None = None, partial_dir: str | None = None,
            should_stop=None) -> dict:
    """Train and test one job; returns its result row.  Runs in any process.

    The model tested (and saved with ``checkpoint_dir``) is the one the config keeps
    (``keep``: the best-validation epoch by default); ``val_error`` is its validation error.
    With ``partial_dir``, the run's resumable state is saved there at the first epoch end
    ``PARTIAL_EVERY_SECONDS`` after the start or the last save, and a run found there is
    continued instead of started again (``note`` says so; ``seconds`` then adds the seconds of
    the epochs already done, not the setup or the work lost since the last save).  A save that
    fails (a full disk) is noted and not tried again; the job goes on.  The partial file is left
    for the caller to remove once the result is recorded (:func:`run_sweep` does).

    ``should_stop()`` (default: :func:`~ddse_np.interrupt.worker_should_stop`) is polled after
    every batch; when it turns true the run's state is saved to ``partial_dir`` at once and
    :class:`JobStopped` is raised, saying where the run stood.
    """
    from .checkpoint import save
    from .evaluate import evaluate
    from .train import NumericalFault

    should_stop = should_stop or worker_should_stop
    if should_stop():  # a job a pool had already handed to a worker when the sweep was stopped
        raise JobStopped(f"{job_file_name(job)} not started")
    started = time.perf_counter()
    config = TrainConfig.from_dict(job["config"])
    partial = Path(partial_dir) / job_file_name(job) if partial_dir else None
    if partial is not None and partial.parent.is_dir():  # what a save killed midway left (SIGKILL)
        for leftover in partial.parent.glob(partial.name + ".tmp-*"):
            leftover.unlink(missing_ok=True)
    trainer, spent, note = _start_or_resume(config, data_dir, partial)
    notes = [note]
    row = dict(sweep=job["sweep"], method=job["method"], value=job["value"], seed=job["seed"], lr=config.lr)
    last_save = time.perf_counter()

    def save_partial(trainer, now=False) -> bool:
        nonlocal partial, last_save
        if partial is None or trainer.finished or (
                not now and time.perf_counter() - last_save < PARTIAL_EVERY_SECONDS):
            return False
        try:
            partial.parent.mkdir(parents=True, exist_ok=True)
            trainer.save(partial)
        except (DDSEError, OSError) as exc:  # only the resume is lost: the job goes on
            notes.append(f"partial run not saved: {exc.strerror if isinstance(exc, OSError) else exc}")
            partial = None
        last_save = time.perf_counter()
        return partial is not None

    def done(**fields):
        fields["note"] = "; ".join(filter(None, [fields.get("note"), *notes])) or None
        return dict(row, epochs=len(trainer.history["epoch"]), steps=trainer.progress.step,
                    seconds=spent + time.perf_counter() - started, **fields)

    try:
        if not trainer.run(on_epoch_end=save_partial, should_stop=should_stop):
            p = trainer.progress
            where = f"{job_file_name(job)} stopped at epoch {p.epoch + 1}, batch {p.batch}"
            raise JobStopped(f"{where}: partial run saved" if save_partial(trainer, now=True)
                             else f"{where}: no partial run saved ({'; '.join(filter(None, notes)) or 'none kept'})")
    except NumericalFault as exc:  # a diverged run is a result too: recorded, not plotted
        return done(val_error=None, test_error=None, checkpoint=None, note=str(exc))
    model = trainer.kept_model()
    test = _split(data_dir, "test")
    result = evaluate(model, model.preprocess(test.images), model.backend.asarray(test.labels, "int64"))
    path = None
    if checkpoint_dir:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        path = str(Path(checkpoint_dir) / job_file_name(job))
        save(path, model, trainer.history,  # the kept model, no resume state
             dict(config=config.to_dict(), progress=asdict(trainer.progress)))
    val_error = trainer.progress.best_val_error if trainer.keeps_best else _finite(trainer.history["val_error"][-1])
    return done(val_error=val_error, test_error=result["error"], checkpoint=path)


def _finite(x):
    return x if x is not None and math.isfinite(x) else None


class SweepStopped(DDSEError):
    """A sweep stopped on request, after recording the jobs that finished."""


def run_sweep(jobs, results: ResultsFile, data_dir, workers: int = 1, scheduler: str | None = None,
              checkpoint_dir=None, on_result=None, connect_timeout: float = 10.0, should_stop=lambda: False):
    """Run the jobs not yet in ``results``, locally (``workers`` processes) or on a Dask cluster;
    returns how many were recorded.

    Jobs in progress keep their resumable state in ``PARTIAL_DIR`` of the results' directory
    (:func:`run_job`), at its absolute path, which Dask workers must be able to write (a shared file system).

    With ``scheduler``, the connection is made first, within ``connect_timeout`` seconds; an
    unreachable or malformed address raises DDSEError before anything is written.

    ``should_stop()`` is polled every ``POLL_SECONDS`` while jobs run.  Once it is true no queued
    job starts, the running ones save their partial runs at once and stop (local jobs; jobs on a
    Dask cluster are cancelled and keep their last periodic save), and :class:`SweepStopped` is
    raised once the jobs that did finish are recorded, saying where each stopped job stood.
    """
    todo = [job for job in jobs if cell(job) not in results.done()]
    partial_dir = results.directory.resolve() / PARTIAL_DIR
    args = (str(data_dir), checkpoint_dir, str(partial_dir))
    recorded, stopped = [], []

    def finished(row):
        results.append(row)
        (partial_dir / job_file_name(row)).unlink(missing_ok=True)  # only once its result is on disk
        recorded.append(row)
        if on_result:
            on_result(row)

    def collect(future):
        if future.cancelled():
            return
        try:
            finished(future.result())
        except JobStopped as exc:
            stopped.append(str(exc))

    if scheduler:
        try:
            import distributed
        except ImportError:
            raise DDSEError("--scheduler needs dask.distributed: pip install 'dask[distributed]' (in a checkout: pip install -e '.[dask]')") from None
        try:
            client = distributed.Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DDSEError(f"cannot reach the Dask scheduler at {scheduler!r}: {reason}") from None

        def wait(pending):
            try:
                return distributed.wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except TimeoutError:
                return set(), pending

        def cancel(pending):  # a task running on a worker cannot be told to stop: it is dropped
            client.cancel(list(pending))
            stopped.extend(sorted(f"{job_file_name(job_of[future.key])} cancelled" for future in pending))
            return set()

        with client:
            futures = [client.submit(run_job, job, *args, pure=False) for job in todo]
            job_of = {future.key: job for future, job in zip(futures, todo)}
            _wait_all(futures, wait, collect, should_stop, cancel)
    elif workers > 1:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait as wait_futures

        context = multiprocessing.get_context()
        event = context.Event()  # set: every worker's running job saves its partial run and stops

        def stop_workers(pending):
            event.set()
            for future in pending:
                future.cancel()  # the queued ones never start
            return pending  # the running ones end with JobStopped

        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker,
                                 initargs=(event,)) as pool:
            futures = [pool.submit(run_job, job, *args) for job in todo]
            try:
                _wait_all(futures, lambda pending: wait_futures(pending, POLL_SECONDS, FIRST_COMPLETED),
                          collect, should_stop, stop_workers)
            except BaseException:  # a failed job or write stops the sweep: do not start the queued ones
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    else:
        for job in todo:
            if should_stop():
                break
            try:
                finished(run_job(job, *args, should_stop=should_stop))
            except JobStopped as exc:
                stopped.append(str(exc))
                break
    if partial_dir.is_dir() and not any(partial_dir.iterdir()):
        partial_dir.rmdir()
    if len(recorded) < len(todo):  # only a stop leaves jobs undone without an exception
        raise SweepStopped(f"{len(recorded)} job(s) recorded in {results.path}, {len(todo) - len(recorded)} not "
                           f"finished" + (f" ({'; '.join(stopped)})" if stopped else "")
                           + "; run the same command again to continue")
    return len(recorded)


def _wait_all(futures, wait, collect, should_stop, stop):
    """``collect`` each future as it completes, checking ``should_stop()`` after each ``wait``
    (at most POLL_SECONDS); once it is true, ``stop(pending)`` returns the futures still to collect."""
    pending, asked = set(futures), False
    while pending:
        done, pending = wait(pending)
        for future in done:
            collect(future)
        if not asked and should_stop():
            asked = True
            pending = set(stop(pending))


def _job_config(sweep: str, settings: dict, method: str, value):
    """(normalised training config, value) of the job ``method`` x ``value`` of a sweep made with
    ``settings`` (as in its ``sweep.json``: budget, --set settings, per-method settings)."""
    job = plan(sweep, settings.get("budget"), 1, (method,), None if value is None else [value],
               settings.get("settings") or {}, settings.get("method_settings") or {})[0]
    return TrainConfig.from_dict(job["config"]).to_dict(), job["value"]


def beside_rows(directory, sweep: str, settings: dict, methods, own_rows=()) -> list:
    """Rows of another sweep's directory that are runs of this sweep, to draw and tabulate beside it.

    A run of the other sweep is kept when this sweep (``sweep`` made with ``settings``), at the
    value of its setting that run had, would train exactly that config: same budget, settings,
    learning rate, epochs and all (e.g. a ``depth`` sweep's k = 2 runs are the ts/t = 1 runs of a
    ``samples`` sweep and the s/n = 0.25 runs of a ``sparsity`` one, when both were made with
    the same settings).  Only ``methods`` are kept, with ``value`` set to this sweep's value;
    a cell and seed already in ``own_rows`` is not counted twice.  Raises DDSEError when the
    directory holds no sweep results, is a sweep of the same kind, or has no such run (naming
    the first setting that differs).
    """
    if sweep == "lr":
        raise DDSEError("--beside: an lr sweep is read for its picks; it draws no other runs")
    if not Path(directory).is_dir():
        raise DDSEError(f"--beside {directory}: no such directory")
    other = ResultsFile(directory, None)
    theirs = other.recorded_settings()
    if not theirs.get("sweep") or not other.rows():
        raise DDSEError(f"--beside {directory}: no sweep results there (results.jsonl and sweep.json)")
    if theirs["sweep"] == sweep:
        raise DDSEError(f"--beside {directory}: a {sweep} sweep itself; give the directory of another sweep")
    field = SWEEPS[sweep][0]
    seen = {(r["method"], r["value"], r["seed"]) for r in own_rows}
    kept, matched, differ = [], False, None
    for row in other.rows():
        if row["method"] not in methods:
            continue
        there, _ = _job_config(theirs["sweep"], theirs, row["method"], row["value"])
        here, value = _job_config(sweep, settings, row["method"], there[field])
        there["seed"] = here["seed"]
        if there != here:  # name a difference other than the other sweep's own setting, if any
            keys = _differing(there, here)
            key = next((k for k in keys if k != SWEEPS[theirs["sweep"]][0]), keys[0])
            if differ is None or differ[0] == SWEEPS[theirs["sweep"]][0]:
                differ = (key, f"{key}: {there.get(key)!r} there, {here.get(key)!r} here")
            continue
        matched = True
        if (row["method"], value, row["seed"]) not in seen:
            seen.add((row["method"], value, row["seed"]))
            kept.append(dict(row, value=value))
    if not matched:
        raise DDSEError(f"--beside {directory}: none of its runs of {', '.join(methods)} is a run of this sweep"
                        + (f" ({differ[1]})" if differ else ""))
    return kept


def beside_note(directory, field: str, rows: list) -> str:
    """One line saying which runs of ``directory`` a table includes."""
    cells: dict = {}
    for row in rows:
        cells.setdefault((row["method"], row["value"]), []).append(row["seed"])
    listed = "; ".join(f"{PAPER_NAMES.get(m, m)} at {'every value' if v is None else f'{field} {v}'}, seed(s) "
                       f"{', '.join(str(x) for x in sorted(seeds))}" for (m, v), seeds in cells.items())
    return f"includes {len(rows)} run(s) of {directory}" + (f": {listed}" if listed else " (all already here)")


def figure(results: ResultsFile, sweep: str, path, beside: list = ()):
    """Draw the sweep's figure (:func:`ddse_np.plots.sweep_figure`) from its results (and the
    rows of :func:`beside_rows`, if any)."""
    from .plots import sweep_figure

    rows = results.rows() + list(beside)
    metric = "val_error" if sweep == "lr" else "test_error"  # an lr sweep is read for its picks
    if not any(r.get(metric) is not None for r in rows):
        raise DDSEError(f"{results.path}: no results to plot")
    sweep_figure(rows, SWEEPS[sweep][0], f"{sweep} sweep", path, METHODS, PAPER_NAMES, metric)


def table(results: ResultsFile, sweep: str, beside: list = ()) -> str:
    """The sweep's markdown tables from its results (and the rows of :func:`beside_rows`): test
    error (:func:`ddse_np.report.sweep_table`), or for an lr sweep validation error with each
    method's pick (:func:`pick_lr`) marked; then what each cell reached and cost
    (:func:`ddse_np.report.runs_table`)."""
    from .report import runs_table, sweep_table

    rows = results.rows() + list(beside)
    field = SWEEPS[sweep][0]
    if sweep == "lr":
        main = sweep_table(rows, "lr", METHODS, PAPER_NAMES, metric="val_error", picks=pick_lr(rows))
    else:
        main = sweep_table(rows, field, METHODS, PAPER_NAMES)
    return main + "\n\n" + runs_table(rows, field, METHODS, PAPER_NAMES)
