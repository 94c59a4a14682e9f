"""Sweeps behind the paper's Figures 3-6 (and the learning rate each method is run at): every
method x every value x every seed, one job each.

Each job is run by :mod:`ddse_np.experiments.jobs` (train, test, record; partial runs; local
processes or Dask); a sweep directory holds its ``results.jsonl`` and ``sweep.json``.

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
from pathlib import Path

from ..errors import DDSEError
from ..nn.models import MODELS, PAPER_NAMES
from ..training.config import TrainConfig, differing
from .results_file import ResultsFile

METHODS = tuple(MODELS)
# the only ones s/n affects
SPARSE_METHODS = tuple(name for name, cls in MODELS.items() if cls.sparse)

# sweep name -> (TrainConfig field, paper grid, quick grid)   (docs/design.md, Experiments)
SWEEPS = {
    "sparsity": ("sparsity", [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6], [0.1, 0.25, 0.5]),
    "width": ("m", [800, 1024, 1200, 1400, 1600, 1800, 2000], [256, 512, 1024]),
    "samples": ("train_fraction", [0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0], [0.05, 0.25, 1.0]),
    "depth": ("k", [1, 2, 3, 4, 5, 6], [1, 2, 4]),
    "lr": ("lr", [0.005, 0.01, 0.02, 0.05, 0.1], [0.01, 0.02, 0.05, 0.1]),
}
# a sweep figure's varied value: (the paper's symbol, the axis label), and whether on a log scale
AXES = {
    "sparsity": (("s/n", "s/n (nonzeros kept per row of W1, W3_i, per column of W2_i)"), False),
    "width": (("m", "m (hidden units)"), False),
    "samples": (("ts/t", "ts/t (fraction of the training images)"), True),
    "depth": (("k", "k (unrolled stages)"), False),
    "lr": (("lr", "learning rate"), True),
}
# samples sweep: epochs = min(ceil(E / (ts/t)), 20 E): step-matched down to ts/t = 0.05
STEP_MATCH_CAP = 20
# settings every job of a budget shares (the rest are TrainConfig defaults): the paper budget is
# the README's recipe; the quick one trains a half-width network for 15 epochs on a quarter of the
# data, so that the four quick sweeps take about an hour of CPU time
BUDGETS = {
    "paper": dict(
        epochs=40, lr=0.05, patience=3, min_lr=5e-5, aug_rotate=10, aug_scale=0.1, aug_noise=0.05
    ),
    "quick": dict(
        epochs=15, lr=0.05, patience=3, min_lr=5e-5, m=512, train_fraction=0.25, val_size=2000
    ),
}
DEFAULT_BUDGET = "quick"
FORMAT = 2  # of a sweep directory; 2: best-validation models tested, val_error and steps recorded
# LISTA diverges at lr 0.05 (README, recipe): it runs at the paper's 0.01 in every budget
METHOD_SETTINGS = {"lista": dict(lr=0.01)}


def plan(
    sweep: str,
    budget: str,
    seeds: int,
    methods=METHODS,
    values=None,
    overrides=None,
    method_overrides=None,
):
    """The jobs of a sweep: dicts with sweep, method, value, seed and the full training config.

    ``overrides`` (setting -> value) apply to every job, ``method_overrides`` (method ->
    {setting: value}) to one method's jobs, after the budget and its per-method settings.
    Methods a parameter does not affect (baselines I-IV for s/n) run once, at the default
    value, and are drawn flat.  In the samples sweep each job's epochs and validation interval
    are step-matched.
    """
    field, paper_grid, quick_grid = _grid(sweep, budget)
    values = values or (paper_grid if budget == "paper" else quick_grid)
    _refuse_repeats(values, methods)
    _refuse_fixed(field, overrides, method_overrides)
    base = {**BUDGETS[budget], **(overrides or {})}
    jobs = []
    for method in methods:
        flat = sweep == "sparsity" and method not in SPARSE_METHODS
        for value in [None] if flat else values:
            for seed in range(seeds):
                config = {
                    **base,
                    **METHOD_SETTINGS.get(method, {}),
                    **(method_overrides or {}).get(method, {}),
                    "model": method,
                    "seed": seed,
                }
                if value is not None:
                    config[field] = value
                # the steps and the schedule of a full-data run
                if sweep == "samples" and value is not None:
                    config["epochs"] = step_matched_epochs(
                        config.get("epochs", TrainConfig.epochs), value
                    )
                    config["val_every"] = step_matched_epochs(
                        config.get("val_every", TrainConfig.val_every), value
                    )
                jobs.append(dict(sweep=sweep, method=method, value=value, seed=seed, config=config))
    return jobs


def _grid(sweep: str, budget: str) -> tuple:
    """SWEEPS[sweep], once the sweep and the budget are known ones."""
    if sweep not in SWEEPS:
        raise DDSEError(f"unknown sweep {sweep!r}: choose one of {', '.join(SWEEPS)}")
    if budget not in BUDGETS:
        raise DDSEError(f"unknown budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    return SWEEPS[sweep]


def _refuse_fixed(field: str, overrides, method_overrides):
    """A --set of what the sweep sets itself (the method, the seed, the swept field) is refused."""
    given = set(overrides or {}).union(*(method_overrides or {}).values())
    fixed = sorted({"model", "seed", field} & given)
    if fixed:
        raise DDSEError(
            f"--set {fixed[0]}: the sweep sets {fixed[0]} itself (the method, the seed and the "
            f"swept {field} of each job)"
        )


def _refuse_repeats(values, methods):
    for what, given in (("--values", values), ("--methods", methods)):
        repeated = sorted({str(v) for i, v in enumerate(given) if v in given[:i]})
        if repeated:
            raise DDSEError(
                f"{what} names {repeated[0]} more than once (perhaps spelled differently): "
                f"give each once, or one cell would run and be counted twice"
            )


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
    method) is not eligible; a method with no eligible rate is left out.  A tie goes to the
    smaller rate: means are compared rounded to 9 decimals, so that equal error counts tie
    whatever float sums make of them (25 + 28 + 34 errors against 29 + 29 + 29)."""
    picks = {}
    for method in {r["method"] for r in rows}:
        mine = [r for r in rows if r["method"] == method]
        seeds = {r["seed"] for r in mine}
        scores = {}
        for lr in sorted({r["value"] for r in mine}):
            errors = [r.get("val_error") for r in mine if r["value"] == lr]
            if len(errors) == len(seeds) and all(e is not None for e in errors):
                scores[lr] = round(sum(errors) / len(errors), 9)
        if scores:
            picks[method] = min(scores, key=lambda lr: (scores[lr], lr))
    return picks


def _job_config(sweep: str, settings: dict, method: str, value):
    """(normalised training config, value) of the job ``method`` x ``value`` of a sweep made with
    ``settings`` (as in its ``sweep.json``: budget, --set settings, per-method settings).
    Normalised: an ``init_sparsity`` equal to the job's ``sparsity`` is the default start (0), so
    e.g. the s/n = 0.25 point of ``--set init_sparsity=0.25`` matches a default run."""
    job = plan(
        sweep,
        settings.get("budget"),
        1,
        (method,),
        None if value is None else [value],
        settings.get("settings") or {},
        settings.get("method_settings") or {},
    )[0]
    config = TrainConfig.from_dict(job["config"]).to_dict()
    if config["init_sparsity"] == config["sparsity"]:  # the start the constraint itself gives
        config["init_sparsity"] = 0.0
    return config, job["value"]


def beside_rows(directory, sweep: str, settings: dict, methods, own_rows=()) -> list:
    """Rows of another sweep's directory that are runs of this sweep, to draw and tabulate beside
    it.

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
        raise DDSEError(
            f"--beside {directory}: no sweep results there (results.jsonl and sweep.json)"
        )
    if theirs["sweep"] == sweep:
        raise DDSEError(
            f"--beside {directory}: a {sweep} sweep itself; give the directory of another sweep"
        )
    if theirs.get("format", 1) != settings.get("format", 1):  # format 1 wrote none
        raise DDSEError(
            f"--beside {directory}: its results are of format {theirs.get('format', 1)}, this "
            f"sweep's of {settings.get('format', 1)}: not runs of the same protocol"
        )
    if "data" in theirs and "data" in settings and theirs["data"] != settings["data"]:
        raise DDSEError(f"--beside {directory}: its runs were made on other training data")
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
            keys = differing(there, here)
            key = next((k for k in keys if k != SWEEPS[theirs["sweep"]][0]), keys[0])
            if differ is None or differ[0] == SWEEPS[theirs["sweep"]][0]:
                differ = (key, f"{key}: {there.get(key)!r} there, {here.get(key)!r} here")
            continue
        matched = True
        if (row["method"], value, row["seed"]) not in seen:
            seen.add((row["method"], value, row["seed"]))
            kept.append(dict(row, value=value))
    if not matched:
        raise DDSEError(
            f"--beside {directory}: none of its runs of {', '.join(methods)} is a run of this sweep"
            + (f" ({differ[1]})" if differ else "")
        )
    return kept


def beside_note(directory, field: str, rows: list) -> str:
    """One line saying which runs of ``directory`` a table includes."""
    cells: dict = {}
    for row in rows:
        cells.setdefault((row["method"], row["value"]), []).append(row["seed"])
    listed = "; ".join(
        f"{PAPER_NAMES.get(m, m)} at {'every value' if v is None else f'{field} {v}'}, seed(s) "
        f"{', '.join(str(x) for x in sorted(seeds))}"
        for (m, v), seeds in cells.items()
    )
    return f"includes {len(rows)} run(s) of {directory}" + (
        f": {listed}" if listed else " (all already here)"
    )


def figure(results: ResultsFile, sweep: str, path, beside: list = ()):
    """Draw the sweep's figure (:func:`ddse_np.experiments.plots.sweep_figure`) from its results
    (and the
    rows of :func:`beside_rows`, if any)."""
    from .plots import sweep_figure

    rows = results.rows() + list(beside)
    metric = "val_error" if sweep == "lr" else "test_error"  # an lr sweep is read for its picks
    if not any(r.get(metric) is not None for r in rows):
        raise DDSEError(f"{results.path}: no results to plot")
    axis, log_x = AXES[sweep]
    sweep_figure(
        rows, SWEEPS[sweep][0], f"{sweep} sweep", path, METHODS, PAPER_NAMES, metric, axis, log_x
    )


def table(results: ResultsFile, sweep: str, beside: list = ()) -> str:
    """The sweep's markdown tables from its results (and the rows of :func:`beside_rows`): test
    error (:func:`ddse_np.experiments.report.sweep_table`), or for an lr sweep validation error with
    each method's pick (:func:`pick_lr`) marked; then what each cell reached and cost
    (:func:`ddse_np.experiments.report.runs_table`)."""
    from .report import runs_table, sweep_table

    rows = results.rows() + list(beside)
    field = SWEEPS[sweep][0]
    if sweep == "lr":
        main = sweep_table(
            rows, "lr", METHODS, PAPER_NAMES, metric="val_error", picks=pick_lr(rows)
        )
    else:
        main = sweep_table(rows, field, METHODS, PAPER_NAMES)
    return main + "\n\n" + runs_table(rows, field, METHODS, PAPER_NAMES)


def every_run(results: ResultsFile, sweep: str, beside: list = ()) -> str:
    """One line per run of the sweep and of ``beside``
    (:func:`ddse_np.experiments.report.every_run_table`), with what ended each: the epochs each job
    was given are planned again from the settings in ``sweep.json`` (the format check keeps a
    directory to one plan); a directory of format 1, or
    settings that plan no job, leave that column empty."""
    from .report import every_run_table

    settings = results.settings or results.recorded_settings()

    def planned(method, value):  # the epochs and schedule this sweep gives the job, or None
        if not isinstance(settings.get("format"), int) or settings["format"] < 2:
            return None  # format 1 (the samples sweep did not yet scale the epochs with ts/t)
        try:
            config = _job_config(sweep, settings, method, value)[0]
        # a hand-edited sweep.json
        except (
            DDSEError,
            TypeError,
            ValueError,
            AttributeError,
            KeyError,
        ):
            return None
        epochs = config.get("epochs")
        return (
            dict(epochs=epochs, schedule=config.get("schedule", TrainConfig.schedule))
            if isinstance(epochs, int)
            else None
        )

    return every_run_table(
        results.rows() + list(beside), SWEEPS[sweep][0], METHODS, PAPER_NAMES, planned
    )
