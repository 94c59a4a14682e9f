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

from ..backend import Backend
from ..data.mnist import default_data_dir
from ..data.source import known_shape, load_split
from ..errors import DDSEError, Interrupted
from ..files.atomic import check_target
from ..training.config import TrainConfig
from ..version import __version__
from .checkpoints import compare, eval_, export, inspect, predict
from .options import (
    PathOption,
    config_options,
    data_option,
    json_option,
    strict_json,
)
from .sweeps import sweep

SETTINGS = tuple(TrainConfig.fields())  # every training setting, in order
AUGMENT_SETTINGS = tuple(name for name in SETTINGS if name.startswith("aug_"))


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
    if p.schedule_ended and summary["epochs"] < config.epochs:  # say why it stopped early
        which += (
            f"; the plateau schedule ended the run at epoch {summary['epochs']} of "
            f"{config.epochs} (its rate would drop below --min-lr)"
        )
    click.echo(
        f"saved {out}: test error {test['error']:.2f}% of the model of {which} "
        f"({summary['seconds']:.0f} s)"
    )


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


cli.add_command(eval_)
cli.add_command(predict)
cli.add_command(export)
cli.add_command(compare)
cli.add_command(inspect)
cli.add_command(sweep)


def main():
    cli()
