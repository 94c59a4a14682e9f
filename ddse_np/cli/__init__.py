"""The ``ddse`` command line: train, eval, inspect, export, sweep, augment-preview.

Every user mistake (bad option, missing data, corrupt checkpoint, no GPU)
ends with one line on stderr, ``error: ...``, and a non-zero exit status.
The options of a training setting are made from :class:`TrainConfig`'s fields,
so their defaults, help and choices live there only.  The installed ``ddse``
script, ``python -m ddse_np`` and ``python cli.py ...`` run :func:`main` through
:mod:`ddse_np.__main__`, which first keeps a Ctrl-C during these imports to one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np
from click.core import ParameterSource
from rich.console import Console

from ..backend import DTYPES, Backend
from ..data.mnist import default_data_dir
from ..data.source import known_shape, load_split
from ..errors import DDSEError, Interrupted
from ..files.atomic import check_target
from ..nn.evaluate import BATCH as EVAL_BATCH
from ..nn.models import PAPER_NAMES
from ..nn.sparse_inference import MODES
from ..training.config import TrainConfig
from ..version import __version__
from .options import (
    PathOption,
    config_options,
    data_option,
    json_option,
    strict_json,
    wrapping_table,
)
from .sweeps import sweep

SETTINGS = tuple(TrainConfig.fields())  # every training setting, in order
AUGMENT_SETTINGS = tuple(name for name in SETTINGS if name.startswith("aug_"))
ATOMS_SHOWN = 64  # tiles in ``inspect --atoms``


class DDSEGroup(click.Group):
    """A click group that turns every user error into one line and an exit status."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except DDSEError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(getattr(exc, "exit_code", 1))
        except (click.Abort, KeyboardInterrupt):
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        sys.exit(0)


@click.group(cls=DDSEGroup, context_settings=dict(help_option_names=["-h", "--help"]))
@click.version_option(
    __version__, "-V", "--version", prog_name="ddse", message="%(prog)s %(version)s"
)
def cli():
    """Deep Double Sparsity Encoder: train, evaluate and inspect on MNIST or your own data.

    \b
    Models (--model):  ddse            DDSE (the paper's model)
                       fc              Baseline I    fully connected, ReLU
                       fc-dropout      Baseline II   I with dropout 0.5
                       fc-dropconnect  Baseline III  I with DropConnect 0.5
                       lista           Baseline IV   LISTA, untied dense m x m, dropout
                       ddse-noskip     Baseline V    DDSE without shortcuts
    """


@cli.command()
@data_option
@click.option(
    "--out",
    type=PathOption(),
    default=Path("ddse.h5"),
    show_default=True,
    help="Checkpoint to write.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option(
    "--config",
    "recipe_path",
    type=PathOption(),
    default=None,
    help="A recipe: training settings in a TOML file (keys are these options' long names; "
    "a [MODEL] table applies to that model only). Options given here win.",
)
@config_options(*SETTINGS)
@json_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--resume",
    type=PathOption(),
    default=None,
    help="Continue the run saved in this checkpoint (its settings; --epochs may raise the total).",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also save a resumable checkpoint to --out every N epochs (0: only at the end).",
)
def train(
    data_dir, out, overwrite, recipe_path, as_json, quiet, resume, checkpoint_every, **options
):
    """Train a model on MNIST or your own data (--data FILE.npz) and save a checkpoint.

    Ctrl-C or SIGTERM stops after the current batch and saves a resumable
    checkpoint to --out; continue with ddse train --resume.
    """
    from ..training.interrupt import stop_on_signals
    from ..training.run import SavePolicy, run_training
    from .progress import RichReporter

    ctx = click.get_current_context()
    given = {
        name for name in options if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }
    recipe = _apply_recipe(recipe_path, resume, options, given)
    if resume is not None and ctx.get_parameter_source("out") != ParameterSource.COMMANDLINE:
        out = resume  # a resumed run goes on in its own checkpoint
    trainer, test_split = _start_or_resume(resume, out, overwrite, options, given, data_dir, recipe)
    if trainer.batches.steps_per_epoch == 1:  # a batch as large as the training set: say so
        click.echo(
            f"note: an epoch is 1 step: --batch-size {trainer.config.batch_size} covers all "
            f"{trainer.batches.count} training images",
            err=True,
        )
    reporter = None if (quiet or as_json) else RichReporter()
    with stop_on_signals() as stop:
        result = run_training(
            trainer, test_split, SavePolicy(out, every_epochs=checkpoint_every), stop, reporter
        )
    _report_run(result, out, stop, as_json)


def _apply_recipe(recipe_path, resume, options: dict, given: set):
    """Fill ``options`` not given on the command line from the recipe file; returns it (or None)."""
    if recipe_path is None:
        return None
    from ..training.recipe import read_recipe

    if resume is not None:
        raise DDSEError(
            "--config cannot be combined with --resume: a resumed run keeps its settings"
        )
    recipe = read_recipe(recipe_path)
    model = options["model"] if "model" in given else recipe.settings.get("model", options["model"])
    options.update({k: v for k, v in recipe.for_model(model).items() if k not in given})
    # a recipe's shared table may set what only some models use; its table for this model may not
    TrainConfig(**options).refuse_unused(
        set(recipe.per_model.get(model, {})), f"{recipe_path} [{model}]"
    )
    return recipe


def _start_or_resume(resume, out, overwrite, options: dict, given: set, data_dir, recipe):
    """(trainer, test split) of ``ddse train``: the run resumed from ``resume``, or a fresh one;
    every refusal before any data is read; a Ctrl-C here says that nothing was touched."""
    from ..training.resume import resume_run
    from ..training.trainer import Trainer

    try:
        if resume is not None:
            check_target(out, overwrite or out.resolve() == resume.resolve())
            trainer = resume_run(resume, None, {name: options[name] for name in given}, data_dir)
            data_dir = data_dir or (trainer.data or {}).get("directory") or default_data_dir()
        else:
            config = TrainConfig(**options)
            config.refuse_unused(given)
            shape = known_shape(data_dir or default_data_dir())
            config.validate(int(np.prod(shape)) if shape else None, shape)
            check_target(out, overwrite)
            # no GPU: refused before the data is read
            backend = Backend(config.backend, config.dtype)
            data_dir = data_dir or default_data_dir()
            train_split = load_split(data_dir, "train")
            chosen = given | set(recipe.for_model(config.model) if recipe else ())
            note = None
            if shape is None and "val_size" not in chosen:
                note = _val_size_of_a_file(config, len(train_split), data_dir)
            trainer = Trainer.start(train_split, config, backend, data_dir)
            if note:  # once the run has started: an error stays one line
                click.echo(note, err=True)
            trainer.recipe = recipe.record() if recipe else None
        return trainer, load_split(data_dir, "test")
    except KeyboardInterrupt:
        kept = f"{resume} is unchanged" if resume is not None else "nothing was saved yet"
        raise Interrupted(
            f"interrupted before training began: {kept} "
            "(once it trains, a Ctrl-C saves a resumable checkpoint)",
            130,
        ) from None


def _val_size_of_a_file(config, count: int, source) -> str | None:
    """--val-size not given for an .npz file: VAL_FRACTION of its training examples, at most
    the default (5000); returns the note that says so (None when the default stays)."""
    from ..training.config import VAL_FRACTION

    size = min(config.val_size, round(VAL_FRACTION * count))
    if size == config.val_size:
        return None
    config.val_size = size
    return (
        f"note: --val-size {size}: {VAL_FRACTION:.0%} of the {count} training examples of "
        f"{source} (give --val-size to choose)"
    )


def _report_run(result, out, stop, as_json: bool):
    """How ``ddse train`` ends: one error line for a fault or a stop, else the summary."""
    from ..training.trainer import NumericalFault

    trainer = result.trainer
    p, history, test, config = trainer.progress, trainer.history, result.test, trainer.config
    if result.fault is not None:
        kept = (
            f"{out} keeps the last good checkpoint (epoch {result.saved[-1]})"
            if result.saved
            else "no checkpoint was written"
        )
        raise NumericalFault(f"{result.fault}; training stopped, {kept}") from None
    if not result.finished:
        raise Interrupted(
            f"stopped by {stop.name} at epoch {p.epoch + 1}, batch {p.batch}: saved a "
            f"resumable checkpoint to {out}; continue with: ddse train --resume {out}",
            stop.exit_code,
        )
    if config.keep == "best" and result.kept == "last":
        click.echo(
            "note: --val-size 0 leaves no validation error: the last epoch's model is kept",
            err=True,
        )
    summary = dict(
        checkpoint=str(out),
        model=config.model,
        epochs=len(history["epoch"]),
        steps=p.step,
        schedule_ended=p.schedule_ended,
        kept=result.kept,
        best_epoch=p.best_epoch or None,
        best_val_error=p.best_val_error,
        final_val_error=history["val_error"][-1],
        test_error=test["error"],
        test_loss=test["loss"],
        seconds=sum(history["seconds"]),
        history=history,
        config=config.recorded(),
        recipe=trainer.recipe,
    )
    if as_json:
        click.echo(strict_json(summary))
        return
    which = (
        f"epoch {p.best_epoch} of {summary['epochs']} "
        f"(best validation error {p.best_val_error:.2f}%)"
        if result.kept == "best"
        else f"the last of {summary['epochs']} epochs"
    )
    click.echo(
        f"saved {out}: test error {test['error']:.2f}% of the model of {which} "
        f"({summary['seconds']:.0f} s)"
    )


def _load(checkpoint, backend="numpy", dtype=None):
    from ..files.checkpoint import load

    return load(checkpoint, backend, dtype)


def _test_split(model, extras: dict, data_dir):
    """The test split a checkpoint's model is judged on, labelled by the model's classes: from
    ``--data``, else the data the checkpoint recorded, else (for a model of MNIST's shape and
    classes) $DDSE_DATA or the bundled MNIST."""
    if data_dir is None:
        data = extras["train"].get("data")
        recorded = data.get("directory") if isinstance(data, dict) else None
        mnist_like = model.input_shape == (28, 28) and model.class_names == tuple(range(10))
        if recorded and not Path(recorded).exists() and not mnist_like:
            raise DDSEError(f"the data it was trained on, {recorded}, is gone: give --data")
        if not recorded and not mnist_like:
            raise DDSEError(
                f"the model takes inputs of n = {model.inputs} features and its checkpoint "
                "records no data: give --data"
            )
        data_dir = recorded if recorded and Path(recorded).exists() else default_data_dir()
    return load_split(data_dir, "test").relabel(model.class_names, str(data_dir))


@cli.command("eval")
@click.argument("checkpoint", type=PathOption())
@data_option
@config_options("backend")
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default=None,
    help="Float type [default: the checkpoint's].",
)
@click.option(
    "--sparse",
    type=click.Choice(MODES),
    default=MODES[0],
    show_default=True,
    help="Constrained products as CSR sparse products (on), dense (off), or whichever was "
    "measured faster for this s/n and batch size (auto).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=EVAL_BATCH,
    show_default=True,
    help="Images per forward pass.",
)
@json_option
def eval_(checkpoint, data_dir, backend, dtype, sparse, batch_size, as_json):
    """Test error (%), loss and per-class error of CHECKPOINT on the test images."""
    from ..nn.evaluate import evaluate
    from ..nn.sparse_inference import choose

    model, extras = _load(checkpoint, backend, dtype)
    test = _test_split(model, extras, data_dir)
    X, y = model.preprocess(test.images), model.backend.asarray(test.labels, "int64")
    evaluated = choose(model, sparse, batch_size)
    result = evaluate(evaluated, X, y, batch_size)
    result["sparse_products"] = evaluated is not model
    result["classes"] = list(model.class_names)  # the name of each per_class_error entry
    if as_json:
        click.echo(strict_json(dict(checkpoint=str(checkpoint), **result)))
        return
    console = Console()
    console.print(
        f"{checkpoint}: test error [bold]{result['error']:.2f}%[/] "
        f"({result['count']} images), loss {result['loss']:.4f}"
    )
    table = wrapping_table("class", "error %")
    for name, err in zip(model.class_names, result["per_class_error"]):
        table.add_row(str(name), f"{err:.2f}")
    console.print(table)


@cli.command()
@click.argument("checkpoint", type=PathOption())
@click.argument("out", type=PathOption())
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def export(checkpoint, out, overwrite):
    """Write the model of CHECKPOINT to OUT without its training state (smaller; not resumable)."""
    from ..files.checkpoint import save

    check_target(out, overwrite, "OUT")
    model, extras = _load(checkpoint)
    was = checkpoint.stat().st_size
    kept = {
        k: v
        for k, v in extras["train"].items()
        if k in ("config", "recipe", "progress", "data", "estimator")
    }
    save(out, model, extras["history"], kept)
    click.echo(f"wrote {out}: {out.stat().st_size} bytes (was {was})")


@cli.command()
@click.argument("checkpoint_a", metavar="A", type=PathOption())
@click.argument("checkpoint_b", metavar="B", type=PathOption())
@data_option
@json_option
def compare(checkpoint_a, checkpoint_b, data_dir, as_json):
    """Test errors of checkpoints A and B on the same test images, and the exact McNemar test.

    Counts the images only A classifies right and only B does; the p-value is that of the
    two-sided exact binomial test on those counts (scipy.stats.binomtest).
    """
    from ..nn.evaluate import mcnemar, predict

    (model_a, extras), (model_b, _) = _load(checkpoint_a), _load(checkpoint_b)
    models = [model_a, model_b]
    if model_a.class_names != model_b.class_names:
        raise DDSEError(
            f"{checkpoint_a} and {checkpoint_b} classify into different classes: "
            "compare models of the same data"
        )
    test = _test_split(model_a, extras, data_dir)
    correct = [predict(model, model.preprocess(test.images)) == test.labels for model in models]
    result = dict(
        a=str(checkpoint_a),
        b=str(checkpoint_b),
        count=int(len(test)),
        error_a=100.0 * float((~correct[0]).mean()),  # as eval computes it
        error_b=100.0 * float((~correct[1]).mean()),
        **mcnemar(*correct),
    )
    if as_json:
        click.echo(strict_json(result))
        return
    console = Console()
    table = wrapping_table("", "checkpoint", "model", "test error %", "right only here")
    for label, path, model, error, only in (
        ("A", checkpoint_a, models[0], result["error_a"], result["only_a"]),
        ("B", checkpoint_b, models[1], result["error_b"], result["only_b"]),
    ):
        name = model.config["model"]
        table.add_row(label, str(path), PAPER_NAMES.get(name, name), f"{error:.2f}", str(only))
    console.print(table)
    # a p-value below the float range prints as "< 1e-300"
    p_value = f"= {result['p_value']:.4g}" if result["p_value"] > 0 else "< 1e-300"
    console.print(
        f"{result['count']} test images; both right {result['both']}, "
        f"both wrong {result['neither']}"
    )
    # its own line: never wrapped inside "p = ..."
    console.print(f"exact McNemar test: p {p_value}")


@cli.command("augment-preview")
@data_option
@click.option("--out", type=PathOption(), default=Path("augment.png"), show_default=True)
@click.option(
    "--count", type=click.IntRange(1, 32), default=10, show_default=True, help="Digits per row."
)
@click.option(
    "--rows",
    type=click.IntRange(1, 10),
    default=4,
    show_default=True,
    help="Rows of augmented versions under the originals.",
)
@config_options(*AUGMENT_SETTINGS, "seed")
def augment_preview(data_dir, out, count, rows, seed, **strengths):
    """Write a PNG grid of training images and augmented versions of them."""
    from ..data.augment import augment
    from ..experiments.plots import image_grid

    config = TrainConfig(**strengths).augment_config()
    check_target(out)
    config.validate(load_split(data_dir or default_data_dir(), "train").input_shape)
    if not config.enabled:
        click.echo(
            "note: every augmentation strength is 0: the augmented rows show the digits unchanged",
            err=True,
        )
    from ..data.split import input_divisor

    backend = Backend()
    source = data_dir or default_data_dir()
    images = load_split(source, "train").images[:count]
    if images.ndim != 3:
        raise DDSEError(f"{source}: holds vectors, not images: there is nothing to augment")
    divisor = input_divisor(images)
    images = images.astype(np.float32) / np.float32(divisor)
    rng = np.random.default_rng(seed)
    clip = divisor != 1.0
    grid = [images] + [augment(images, config, rng, backend, clip) for _ in range(rows)]
    image_grid(grid, out, ["original"] + ["augmented"] * rows, (0.0, 1.0) if clip else None)
    click.echo(f"wrote {out}")


@cli.command()
@click.argument("checkpoint", type=PathOption())
@data_option
@json_option
@click.option(
    "--plot",
    "plot_path",
    type=PathOption(),
    default=None,
    help="Also draw training loss and validation error per epoch to this PNG.",
)
@click.option(
    "--atoms",
    "atoms_path",
    type=PathOption(),
    default=None,
    help="Also draw the learned dictionary atoms (first layer's rows through the PCA basis, "
    "most used first) to this PNG.",
)
@click.option(
    "--atom-count",
    type=click.IntRange(min=1),
    default=ATOMS_SHOWN,
    show_default=True,
    help="Atoms drawn by --atoms.",
)
@click.option(
    "--codes",
    "codes_path",
    type=PathOption(),
    default=None,
    help="Also draw, per stage, the zeros of the code and active units per test image to this PNG.",
)
def inspect(checkpoint, data_dir, as_json, plot_path, atoms_path, atom_count, codes_path):
    """Sparsity, parameter counts, file size and learning curves of CHECKPOINT."""
    from ..experiments.report import describe

    for target in (plot_path, atoms_path, codes_path):
        if target is not None:
            check_target(target)
    model, extras = _load(checkpoint)
    label = f"{checkpoint.name}: {PAPER_NAMES.get(model.config['model'], model.config['model'])}"
    if atoms_path is not None and len(model.input_shape) != 2:
        raise DDSEError(
            f"--atoms draws atoms as images; {checkpoint} takes vectors of "
            f"{model.inputs} features, which have no image shape"
        )
    test = _test_split(model, extras, data_dir)
    if plot_path is not None:
        from ..experiments.plots import learning_curves

        learning_curves(extras["history"], plot_path, label)
        click.echo(f"wrote {plot_path}", err=True)
    X = model.preprocess(test.images)
    report = describe(model, checkpoint, X)
    progress = extras["train"].get("progress", {})
    report.update(
        epochs=len(extras["history"].get("epoch", [])),
        best_epoch=progress.get("best_epoch") or None,
        best_val_error=progress.get("best_val_error"),
        kept=extras["train"].get("config", {}).get("keep"),
    )
    if atoms_path is not None or codes_path is not None:
        _code_figures(model, X, label, atoms_path, atom_count, codes_path)
    if as_json:
        click.echo(strict_json(report))
    else:
        _print_inspection(checkpoint, report)


def _code_figures(model, X, label: str, atoms_path, atom_count: int, codes_path):
    """``inspect --atoms`` (the most used atoms) and ``--codes`` (the codes' sparsity) on X."""
    from ..experiments.plots import atoms_figure, codes_figure
    from ..experiments.report import code_statistics, dictionary_atoms

    stages = code_statistics(model, X)
    letter = model.code_letter
    if atoms_path is not None:
        stage = len(stages) - 1 if model.atom_stage == -1 else model.atom_stage
        use = stages[stage]["unit_use"]
        order = np.argsort(-use, kind="stable")[:atom_count]
        atoms_figure(
            dictionary_atoms(model)[order],
            use[order],
            atoms_path,
            f"{label}: the {len(order)} most used of {len(use)} atoms D0 w_j "
            f"({model.first_layer} rows in pixel space); % = test images where unit j of "
            f"{letter}{stage} is nonzero",
        )
        click.echo(f"wrote {atoms_path}", err=True)
    if codes_path is not None:
        codes_figure(stages, codes_path, f"{label}: codes on {len(X)} test images", letter)
        click.echo(f"wrote {codes_path}", err=True)


def _print_inspection(checkpoint, report: dict):
    """``inspect``'s report (:func:`~ddse_np.experiments.report.describe`) as tables and lines."""
    console = Console()
    counts = report["counts"]
    if report["matrices"]:
        table = wrapping_table(
            "matrix", "shape", "nonzeros", "max per line", "s", title=str(checkpoint)
        )
        for row in report["matrices"]:
            table.add_row(
                row["name"],
                "x".join(map(str, row["shape"])),
                str(row["nonzeros"]),
                f"{row['max_per_line']} per {row['axis']}",
                str(row["s"]),
            )
        console.print(table)
        console.print(
            f"constrained weights (2k+1)*s*m = {counts['paper_constrained']}, "
            f"stored nonzeros {counts['stored_nonzeros']}, "
            f"dense mn + km^2 = {counts['dense_lista']} "
            f"(ratio {counts['paper_constrained'] / counts['dense_lista']:.3f})"
        )
    else:
        console.print(
            f"{checkpoint}: dense model {report['config']['model']}, no sparsity constraint"
        )
    console.print(
        f"all parameters (dense count) {counts['total_parameters']}; "
        f"file {report['file_bytes']} bytes"
    )
    console.print(
        f"exact zeros in Z_k on {report['code_images']} test images: "
        f"{100 * report['code_zero_fraction']:.1f}%"
    )
    if report["kept"] == "best" and report["best_epoch"]:
        console.print(
            f"saved model: epoch {report['best_epoch']} of {report['epochs']} "
            f"(best validation error {report['best_val_error']:.2f}%)"
        )
    elif report["epochs"]:
        console.print(f"saved model: the last of {report['epochs']} epochs")


cli.add_command(sweep)


def main():
    cli()
