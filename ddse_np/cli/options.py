"""The pieces every ``ddse`` command's options are made of: paths, --data, --json, the training
settings (from :class:`~ddse_np.training.config.TrainConfig`), strict JSON and tables that wrap."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
from rich.table import Table

from ..training.config import TrainConfig


def data_option(f, default="$DDSE_DATA or the MNIST that comes with ddse-np"):
    return click.option(
        "--data",
        "data_dir",
        type=PathOption(),
        default=None,
        help="Directory with the four MNIST IDX files (raw or .gz), or an .npz file with "
        "X_train, y_train[, X_test, y_test] (vectors or images of any size, any labels). "
        f"Default: {default}.",
    )(f)


def recorded_data_option(f):
    """``--data`` of a command that reads a checkpoint: by default the data it recorded."""
    return data_option(f, "the data the checkpoint recorded, else $DDSE_DATA or the bundled MNIST")


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")(
        f
    )


def wrapping_table(*headers, **options) -> Table:
    """A rich table whose cells wrap in a narrow terminal instead of being cut ("64x7…")."""
    table = Table(**options)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def strict_json(value) -> str:
    """JSON that every parser accepts: a NaN or infinite number (no validation split, a class
    absent from the test data) becomes null."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(value), allow_nan=False)


class PathOption(click.Path):
    """A path option or argument (a pathlib.Path) that refuses, in one line, what no file system
    takes: a NUL byte."""

    def __init__(self):
        super().__init__(path_type=Path)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "\x00" in value:
            self.fail("a path cannot contain a NUL byte", param, ctx)
        return super().convert(value, param, ctx)


def config_options(*names):
    """One click option --NAME per TrainConfig field, with the field's default, help and choices."""

    def decorate(f):
        fields = TrainConfig.fields()
        for name in reversed(names):
            field, choices = fields[name], fields[name].metadata["choices"]
            f = click.option(
                f"--{name.replace('_', '-')}",
                name,
                type=click.Choice(choices) if choices else type(field.default),
                default=field.default,
                show_default=True,
                help=field.metadata["help"],
            )(f)
        return f

    return decorate
