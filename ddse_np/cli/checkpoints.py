"""The commands that read a checkpoint: ``ddse eval``, ``predict``, ``export``, ``compare`` and
``inspect``, and the test data a checkpoint's model is judged on."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from rich.console import Console

from ..backend import DTYPES
from ..data.mnist import default_data_dir
from ..data.source import load_split
from ..errors import DDSEError
from ..files.atomic import check_target
from ..nn.evaluate import BATCH as EVAL_BATCH
from ..nn.models import PAPER_NAMES
from ..nn.sparse_inference import MODES
from .options import (
    PathOption,
    config_options,
    json_option,
    recorded_data_option,
    strict_json,
    wrapping_table,
)

ATOMS_SHOWN = 64  # tiles in ``inspect --atoms``


def batch_size_option(f):
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=EVAL_BATCH,
        show_default=True,
        help="Inputs per forward pass.",
    )(f)


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
    test = load_split(data_dir, "test")
    features = int(np.prod(test.input_shape))
    if features != model.inputs:  # before the classes: the more basic mismatch
        raise DDSEError(
            f"{data_dir}: the model takes inputs of n = {model.inputs} features, but these "
            f"have {features}: give the data it was trained on"
        )
    return test.relabel(model.class_names, str(data_dir))


@click.command("eval")
@click.argument("checkpoint", type=PathOption())
@recorded_data_option
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
@batch_size_option
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


@click.command()
@click.argument("checkpoint", type=PathOption())
@click.argument("out", type=PathOption())
@recorded_data_option
@click.option(
    "--inputs",
    "inputs_path",
    type=PathOption(),
    default=None,
    help="Predict these inputs instead of the test images: an .npy file of N inputs, or an .npz "
    "file with an array X (else X_test), of as many features as the model's inputs and of the "
    "training data's type (uint8 pixels for a model trained on them).",
)
@config_options("backend")
@batch_size_option
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def predict(checkpoint, out, data_dir, inputs_path, backend, batch_size, overwrite):
    """Write the class CHECKPOINT predicts for each test image (or each of --inputs) to OUT.

    OUT ends in .csv (a header "index,label", then one line per input) or .npy (the N class
    names as one array); the classes are named as the training labels named them.  On the
    test images, the test error is printed too.
    """
    from ..data.npz import load_inputs
    from ..files.predictions import check_format, write_predictions
    from ..nn.evaluate import predict as predict_classes

    if data_dir is not None and inputs_path is not None:
        raise DDSEError("give --data (its test images) or --inputs, not both")
    check_target(check_format(out), overwrite, "OUT")
    if inputs_path is not None:  # read before the checkpoint: a bad file is refused at once
        images, labels = load_inputs(inputs_path), None
        model, _ = _load(checkpoint, backend)
    else:
        model, extras = _load(checkpoint, backend)
        test = _test_split(model, extras, data_dir)
        images, labels = test.images, test.labels
    try:
        X = model.preprocess(images)
    except DDSEError as exc:  # of the wrong shape, type or scale: name the file
        raise DDSEError(f"{inputs_path}: {exc}" if inputs_path is not None else str(exc)) from None
    classes = predict_classes(model, X, batch_size)
    if (classes < 0).any():
        raise DDSEError(
            f"{checkpoint}: the model's outputs are not finite for {int((classes < 0).sum())} of "
            f"{len(classes)} inputs (a diverged model?): no predictions written"
        )
    write_predictions(out, np.asarray(model.class_names)[classes])
    error = "" if labels is None else f" (test error {100.0 * (classes != labels).mean():.2f}%)"
    click.echo(f"wrote {out}: {len(classes)} predictions{error}", err=True)


@click.command()
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


@click.command()
@click.argument("checkpoint_a", metavar="A", type=PathOption())
@click.argument("checkpoint_b", metavar="B", type=PathOption())
@recorded_data_option
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


@click.command()
@click.argument("checkpoint", type=PathOption())
@recorded_data_option
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
