"""PNG figures (matplotlib, an optional extra): augmented digits, learning curves,
sweeps, dictionary atoms and code statistics.

Each function takes host data already computed (by :mod:`ddse_np.experiments.report` or the
sweep's results) and writes one PNG atomically (:mod:`ddse_np.files.atomic`).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from ..errors import DDSEError
from ..files.atomic import atomic_path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DDSEError(
            "plotting needs matplotlib: pip install matplotlib "
            "(in a checkout: pip install -e '.[plot]')"
        ) from None
    return plt


@contextmanager
def _no_glyph_warnings():
    """A file name in a title in a script the font lacks (e.g. CJK) is drawn as boxes: no error, and
    matplotlib's warning would be the only line of the command not its own.  Silenced while this
    module lays out and draws its figures only."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Glyph \d+ .* missing from", category=UserWarning
        )
        yield


def _tight(fig, **options):
    with _no_glyph_warnings():
        fig.tight_layout(**options)


def _save(fig, path):
    """Write ``fig`` to ``path`` as PNG, atomically, and free it."""
    try:
        with atomic_path(path) as tmp, _no_glyph_warnings():
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        fig.clf()
        _pyplot().close(fig)


def image_grid(rows, path, row_titles, value_range=(0.0, 1.0)):
    """rows: list of (count x H x W) host arrays, one figure row each, drawn in gray from
    ``value_range`` (None: each image's own range)."""
    vmin, vmax = value_range or (None, None)
    plt = _pyplot()
    count = rows[0].shape[0]
    fig, axes = plt.subplots(
        len(rows), count, figsize=(count * 0.9, len(rows) * 0.95), squeeze=False
    )
    for r, (images, title) in enumerate(zip(rows, row_titles)):
        for c in range(count):
            ax = axes[r][c]
            ax.imshow(images[c], cmap="gray", vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(title, fontsize=7)
    _tight(fig)
    _save(fig, path)


def learning_curves(history: dict, path, title: str = ""):
    """Training loss and validation error (%) per epoch, from a checkpoint's history."""
    if not history.get("epoch"):
        raise DDSEError("the checkpoint holds no training history to plot")
    plt = _pyplot()
    epochs = np.asarray(history["epoch"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.plot(epochs, history["train_loss"], marker=".")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    val = np.asarray(history["val_error"], dtype=float)
    validated = np.isfinite(val)  # NaN: an epoch without validation (val_every > 1)
    right.plot(epochs[validated], val[validated], marker=".", color="C1")
    right.set_xlabel("epoch")
    right.set_ylabel("validation error (%)")
    lr = np.asarray(history["lr"])
    for epoch in epochs[1:][np.diff(lr) < 0]:
        for ax in (left, right):
            ax.axvline(epoch - 0.5, color="grey", lw=0.6, ls=":")
    fig.suptitle(title + "  (dotted: lr drops)", fontsize=9)
    _tight(fig)
    _save(fig, path)


def sweep_figure(
    rows: list,
    field: str,
    title: str,
    path,
    order=(),
    names=None,
    metric: str = "test_error",
    axis: tuple | None = None,
    log_x: bool = False,
):
    """``metric`` (%, test or validation error) against the varied value, one line per method,
    mean ± sample standard deviation over seeds as error bars and each seed of a varied method
    as a faint dot beside them; a dotted segment (explained in the legend) crosses a value where
    a method has no result.  A sweep of one value (a comparison at one setting) puts the
    methods side by side instead.  A method whose runs all diverged is named "(diverged)".

    rows : result dicts with method, value (None: not affected, drawn flat) and the metric
    (None: diverged, left out); ``order`` lists methods in drawing order, ``names`` maps a
    method to its label; ``axis`` = (symbol, label) of the varied value (default: ``field``
    for both), on a log scale with ``log_x`` (for positive values, such as ts/t 0.05 ... 1).
    """
    symbol, xlabel = axis or (field, field)
    values = sorted({r["value"] for r in rows if r["value"] is not None})  # diverged ones too
    methods = list(dict.fromkeys([*order, *sorted({r["method"] for r in rows} - set(order))]))
    methods = [m for m in methods if any(r["method"] == m for r in rows)]
    rows = [dict(r, error=r.get(metric)) for r in rows if r.get(metric) is not None]
    label = {
        m: (names or {}).get(m, m) + ("" if any(r["method"] == m for r in rows) else " (diverged)")
        for m in methods
    }
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(values) <= 1:
        _side_by_side(ax, rows, methods, label)
        if values:
            title = f"{title}: {symbol} = {values[0]:g}"
    else:
        dot_shift = (
            (lambda x: x * 1.04) if log_x else (lambda x: x + 0.012 * (values[-1] - values[0]))
        )
        gaps = [
            _method_line(
                ax, [r for r in rows if r["method"] == method], values, label[method], dot_shift
            )
            for method in methods
        ]
        handles, labels = ax.get_legend_handles_labels()
        if any(gaps):  # explained last, after the methods
            handles.append(ax.plot([], [], ":", color="grey")[0])
            labels.append("dotted: no result in between")
        ax.set_xlabel(xlabel)
        if log_x:
            ax.set_xscale("log")
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.minorticks_off()
        ax.legend(handles, labels, fontsize=7)
    ax.set_ylabel("validation error (%)" if metric == "val_error" else "test error (%)")
    ax.set_title(title)
    _tight(fig)
    _save(fig, path)


def _mean_std(errors):
    """(mean, sample std); the std of one seed is NaN, which matplotlib draws as no bar (a bar
    of zero length would read as seeds that agree)."""
    return float(np.mean(errors)), (float(np.std(errors, ddof=1)) if len(errors) > 1 else np.nan)


def _method_line(ax, mine, values, label, dot_shift):
    """One method's line of :func:`sweep_figure`: its means joined by solid segments, or by a
    dotted one across a value of the sweep where it has no result (not run yet, or every run
    diverged); flat for a method the value does not affect, only a legend entry for one whose
    runs all diverged.  Returns whether it drew a dotted segment."""
    if not mine:
        # an errorbar too: the legend keeps the order
        ax.errorbar([], [], yerr=[], marker="o", label=label)
        return False
    if all(r["value"] is None for r in mine):
        mean, std = _mean_std([r["error"] for r in mine])
        ax.errorbar(
            values,
            [mean] * len(values),
            yerr=[std] * len(values),
            marker="o",
            capsize=3,
            label=label,
        )
        return False
    xs = sorted({r["value"] for r in mine if r["value"] is not None})
    stats = [_mean_std([r["error"] for r in mine if r["value"] == x]) for x in xs]
    means = [m for m, _ in stats]
    line = ax.errorbar(
        xs, means, yerr=[s for _, s in stats], marker="o", capsize=3, linestyle="none", label=label
    )
    gaps = False
    for a, b, mean_a, mean_b in zip(xs, xs[1:], means, means[1:]):
        # a value this method has no result at: not a measurement
        gap = any(a < v < b for v in values)
        ax.plot([a, b], [mean_a, mean_b], ":" if gap else "-", color=line[0].get_color())
        gaps |= gap
    seeds = [r for r in mine if r["value"] is not None]
    ax.plot(
        [dot_shift(r["value"]) for r in seeds],
        [r["error"] for r in seeds],
        ".",
        color=line[0].get_color(),
        alpha=0.4,
        markersize=4,
    )
    return gaps


def _side_by_side(ax, rows, methods, label):
    """The methods of a one-value sweep along x: mean ± std, and each seed as a dot beside it
    (a method whose runs all diverged: its name only)."""
    for i, method in enumerate(methods):
        errors = [r["error"] for r in rows if r["method"] == method]
        if not errors:
            ax.plot([], [])  # its colour goes unused, so the next methods keep theirs
            continue
        mean, std = _mean_std(errors)
        line = ax.errorbar([i], [mean], yerr=[std], marker="o", capsize=4)
        ax.plot(
            [i + 0.15] * len(errors),
            errors,
            ".",
            color=line[0].get_color(),
            alpha=0.5,
            markersize=5,
        )
    ax.set_xticks(range(len(methods)), [label[m] for m in methods], rotation=20, fontsize=8)
    ax.set_xlim(-0.5, len(methods) - 0.5)


def atoms_figure(atoms: np.ndarray, usage: np.ndarray, path, title: str = "", columns: int = 16):
    """Dictionary atoms as image tiles, most used first.

    atoms : count x H x W host array (any scale; each tile is drawn symmetric about 0, its own
    scale, so its sign pattern shows); usage : count fractions in [0, 1] written under each tile.
    """
    plt = _pyplot()
    count = len(atoms)
    rows = -(-count // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * 0.75, rows * 0.85 + 0.4), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= count:
            ax.axis("off")
            continue
        limit = float(np.abs(atoms[index]).max()) or 1.0
        ax.imshow(atoms[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xlabel(f"{100 * usage[index]:.0f}%", fontsize=6, labelpad=1)
    fig.suptitle(title, fontsize=9)
    _tight(fig, pad=0.3)
    _save(fig, path)


def codes_figure(stages: list, path, title: str = "", stage_label: str = "Z"):
    """Per stage i: the fraction of exact zeros of its code, and a histogram of active units per
    image.

    stages : one dict per stage, as :func:`ddse_np.experiments.report.code_statistics` returns them
    (``zero_fraction``, ``active_per_image`` : N ints, ``units`` : m).
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = [f"{stage_label}{i}" for i in range(len(stages))]
    zeros = [100 * s["zero_fraction"] for s in stages]
    bars = left.bar(labels, zeros, color=[f"C{i}" for i in range(len(stages))])
    left.bar_label(bars, fmt="%.1f%%", fontsize=7)
    left.set_ylim(0, 105)
    left.set_ylabel("exact zeros (%)")
    units = stages[0]["units"]
    bins = np.linspace(0, units, min(units, 60) + 1)
    for i, stage in enumerate(stages):
        right.hist(
            stage["active_per_image"],
            bins=bins,
            histtype="step",
            lw=1.4,
            color=f"C{i}",
            label=labels[i],
        )
    right.set_xlabel(f"active units per image (of {units})")
    right.set_ylabel("images")
    right.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    _tight(fig)
    _save(fig, path)
