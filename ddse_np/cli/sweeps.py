"""``ddse sweep``: the grids behind the paper's figures and the learning-rate sweep, from the
command line (the machinery is :mod:`ddse_np.experiments.sweep`)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..backend import Backend
from ..data.mnist import default_data_dir
from ..data.source import known_shape, load_split
from ..data.split import fingerprint
from ..errors import DDSEError, Interrupted
from ..experiments.jobs import cell
from ..experiments.runner import SweepStopped, run_sweep
from ..experiments.sweep import BUDGETS, DEFAULT_BUDGET, METHODS, SWEEPS
from ..fast import host_cores
from ..files.atomic import check_directory, write_text
from ..training.config import SCHEDULE_SETTINGS, TrainConfig
from ..training.interrupt import stop_on_signals
from .options import PathOption, config_options, data_option


@click.command()
@click.argument("name", type=click.Choice(list(SWEEPS)))
@click.option(
    "--budget", type=click.Choice(list(BUDGETS)), default=DEFAULT_BUDGET, show_default=True
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Seeds 0..N-1 per cell.",
)
@click.option(
    "--methods",
    default=None,
    help=f"Comma-separated subset of {', '.join(METHODS)} (default: all).",
)
@click.option("--values", default=None, help="Comma-separated values instead of the budget's grid.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local processes running jobs at once.",
)
@click.option(
    "--scheduler", default=None, help="Address of a Dask distributed scheduler to send jobs to."
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the Dask scheduler before giving up.",
)
@click.option(
    "--out",
    type=PathOption(),
    default=None,
    help="Sweep directory (default: results/sweeps/NAME-BUDGET).",
)
@click.option(
    "--keep-checkpoints", is_flag=True, help="Save every job's checkpoint in the sweep directory."
)
@click.option(
    "--plot-only", is_flag=True, help="Only redraw the figure and table from the existing results."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="[METHOD:]KEY=VALUE",
    help="Override a training setting of every job, or with METHOD: of that method's jobs only "
    "(e.g. --set epochs=1 --set lista:lr=0.01).",
)
@click.option(
    "--lr-from",
    type=PathOption(),
    default=None,
    help="Run each method at the learning rate an earlier 'ddse sweep lr' in this directory picked "
    "by validation error.",
)
@click.option(
    "--beside",
    type=PathOption(),
    multiple=True,
    help="Also draw and tabulate the runs of another sweep directory made at this sweep's default "
    "value (e.g. the defaults' runs as ts/t = 1 in a samples sweep); same budget and settings.",
)
@config_options("backend")
@data_option
def sweep(
    name,
    budget,
    seeds,
    methods,
    values,
    workers,
    scheduler,
    connect_timeout,
    out,
    keep_checkpoints,
    plot_only,
    overrides,
    lr_from,
    beside,
    backend,
    data_dir,
):
    """Run the grid of methods x values x seeds behind one of the paper's Figures 3-6, or (lr)
    the learning rates to pick each method's from."""
    from ..experiments import sweep as sw

    out = out or Path("results") / "sweeps" / f"{name}-{budget}"
    check_directory(out)
    if plot_only:
        results = sw.ResultsFile(out, None)
        made = results.made_by()
        if made and made != name:
            raise DDSEError(f"{out} holds the results of a {made} sweep, not {name}")
        if beside and not results.rows():
            raise DDSEError(f"{results.path}: no results to plot")
    else:
        Backend(backend)  # a missing GPU is refused before anything is written
        jobs, settings = _plan(
            name, budget, seeds, methods, values, overrides, lr_from, backend, data_dir
        )
        results = sw.ResultsFile(out, settings)
        for directory in beside:  # refused now, not after the runs
            sw.beside_rows(
                directory, name, settings, sorted({job["method"] for job in jobs}), results.rows()
            )
        _run(
            name,
            jobs,
            results,
            workers,
            scheduler,
            str(out) if keep_checkpoints else None,
            connect_timeout,
            data_dir,
        )
    _draw(name, results, beside, out)


def _plan(name, budget, seeds, methods, values, overrides, lr_from, backend, data_dir=None):
    """(jobs, settings for sweep.json) of ``ddse sweep``, every refusal before anything runs."""
    from ..experiments import sweep as sw

    shared, per_method = _sweep_settings(overrides, backend, lr_from)
    method_list = tuple(methods.split(",")) if methods else METHODS
    unknown = [m for m in method_list if m not in METHODS]
    if unknown:
        raise DDSEError(f"unknown method {unknown[0]!r}: choose from {', '.join(METHODS)}")
    unpicked = [m for m in method_list if lr_from is not None and "lr" not in per_method.get(m, {})]
    if unpicked:
        raise DDSEError(
            f"--lr-from {lr_from}: no learning rate was picked for {unpicked[0]} there (not in "
            f"that sweep, or it diverged at every rate); give one with --set {unpicked[0]}:lr=..."
        )
    field = SWEEPS[name][0]
    value_list = (
        [TrainConfig.parse(field, v.strip()) for v in values.split(",")] if values else None
    )
    jobs = sw.plan(name, budget, seeds, method_list, value_list, shared, per_method)
    schedule_keys = {key for keys in SCHEDULE_SETTINGS.values() for key in keys}
    shape = known_shape(data_dir or default_data_dir())
    # a --set METHOD:KEY (or a schedule's KEY) that does nothing to its jobs is refused
    for job in jobs:
        config = TrainConfig.from_dict(job["config"])
        named = set(_set_for(overrides, job["method"])) | (set(shared) & schedule_keys)
        config.refuse_unused(named, f"--set {job['method']}" if named - schedule_keys else "--set")
        config.validate(int(np.prod(shape)) if shape else None, shape)
    settings = dict(sweep=name, budget=budget, settings=shared, format=sw.FORMAT)
    # which training data: a rerun on other data must not count these cells as done
    settings["data"] = fingerprint(load_split(data_dir or default_data_dir(), "train"))
    if per_method:
        settings["method_settings"] = per_method
    if name == "samples":
        settings["epochs"] = f"step-matched (cap {sw.STEP_MATCH_CAP}x)"
        settings["val_every"] = f"step-matched (cap {sw.STEP_MATCH_CAP}x)"
    return jobs, settings


def _run(name, jobs, results, workers, scheduler, checkpoints, connect_timeout, data_dir):
    """Run the jobs not yet in ``results``, each reported as it ends; a signal ends in one line."""
    todo = len([job for job in jobs if cell(job) not in results.done()])
    cores = host_cores()
    if scheduler is None and min(workers, todo) > cores:
        click.echo(
            f"note: --workers {workers} starts {min(workers, todo)} processes on {cores} "
            "core(s): they share the cores, so each job runs slower "
            "(at most one process per core is faster)",
            err=True,
        )

    def report(row):
        error = (
            f"{row['test_error']:.2f}%"
            if row["test_error"] is not None
            else f"diverged ({row['note']})"
        )
        value = "(every value)" if row["value"] is None else f"{name}={row['value']}"
        note = f" [{row['note']}]" if row["note"] and row["test_error"] is not None else ""
        click.echo(
            f"{row['method']:15} {value} seed {row['seed']}: {error} "
            f"({row['seconds']:.0f} s, {row['steps']} steps){note}",
            err=True,
        )

    # SIGINT / SIGTERM: running jobs save their partial runs, then exit
    with stop_on_signals() as stop:
        try:
            ran = run_sweep(
                jobs,
                results,
                data_dir or default_data_dir(),
                workers,
                scheduler,
                checkpoints,
                on_result=report,
                connect_timeout=connect_timeout,
                should_stop=stop,
            )
        # signalled here, or only a worker was (kill PID, or -9): status 1
        except SweepStopped as exc:
            raise Interrupted(
                f"stopped by {stop.name or exc.cause or 'a signal to a job'}: {exc}",
                stop.exit_code if stop() else 1,
            ) from None
    click.echo(f"{ran} job(s) run, {len(jobs) - ran} already done; results in {results.path}")


def _draw(name, results, beside, out):
    """The sweep's figure and table from its results (and those of ``beside`` directories)."""
    from ..experiments import sweep as sw

    figure, table_path = out / f"{name}.png", out / f"{name}.md"
    duplicates = results.duplicates()
    if duplicates:
        first = duplicates[0]
        click.echo(
            f"note: {results.path} holds {len(duplicates)} more row(s) for cells it already "
            f"has (first: {first.get('method')} {name}={first.get('value')} "
            f"seed {first.get('seed')}): the first row of each cell is used, the others are left "
            "out of the tables and figure; remove them",
            err=True,
        )
    settings = results.settings or results.recorded_settings()
    methods = sorted({row["method"] for row in results.rows()})
    extra, taken = {}, results.rows()
    # a run already taken (here, or from an earlier --beside) is not taken again
    for directory in beside:
        extra[str(directory)] = sw.beside_rows(directory, name, settings, methods, taken)
        taken = taken + extra[str(directory)]
    rows = [row for added in extra.values() for row in added]
    sw.figure(results, name, figure, rows)
    text = sw.table(results, name, rows)
    for directory, added in extra.items():
        text += "\n\n" + sw.beside_note(directory, SWEEPS[name][0], added)
    # the file: every run too
    write_text(table_path, text + "\n\n" + sw.every_run(results, name, rows) + "\n")
    click.echo(text)
    click.echo(f"figure: {figure}; table: {table_path}")


def _sweep_settings(overrides, backend, lr_from):
    """(settings of every job, {method: settings}) from --set, --backend and --lr-from."""
    from ..experiments import sweep as sw

    shared = {} if backend == TrainConfig.backend else {"backend": backend}
    per_method = {}
    if lr_from is not None:
        rows = sw.ResultsFile(lr_from, None).rows()
        if not rows or any(r.get("sweep") != "lr" for r in rows):
            raise DDSEError(f"--lr-from {lr_from}: no results of a 'ddse sweep lr' there")
        per_method = {method: {"lr": lr} for method, lr in sw.pick_lr(rows).items()}
    for item in overrides:
        target, _, raw = item.partition("=")
        method, _, key = target.rpartition(":")
        if not raw or not key:
            raise DDSEError(f"--set {item!r}: expected KEY=VALUE or METHOD:KEY=VALUE")
        if method and method not in METHODS:
            raise DDSEError(
                f"--set {item!r}: unknown method {method!r}: choose from {', '.join(METHODS)}"
            )
        value = TrainConfig.parse(key, raw)
        if key == "backend":
            Backend(value)
        (per_method.setdefault(method, {}) if method else shared)[key] = value
    return shared, per_method


def _set_for(overrides, method) -> list:
    """The keys that --set METHOD:KEY=VALUE items name for ``method``."""
    keys = []
    for item in overrides:
        target = item.partition("=")[0]
        who, _, key = target.rpartition(":")
        if who == method:
            keys.append(key)
    return keys
