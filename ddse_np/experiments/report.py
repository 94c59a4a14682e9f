"""What ``ddse inspect`` and ``ddse sweep`` report: sparsity per matrix, parameter counts, size,
code statistics per stage, dictionary atoms in pixel space, and sweep tables (host values only;
:mod:`ddse_np.experiments.plots` draws them)."""

from __future__ import annotations

import os
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from ..backend import to_host
from ..nn.evaluate import BATCH, code_zero_fraction
from ..nn.sparsity import count_nonzeros


def describe(model, path, X) -> dict:
    """A JSON-ready report of ``model`` loaded from ``path``; X : N x n test inputs for Z_k.

    For sparse models (DDSE, baseline V): per constrained matrix its shape, nonzeros and the
    largest count per row/column against s, and the paper's (2k+1)*s*m against the dense
    mn + k*m^2.  For every model: the dense parameter count, file size, zeros in Z_k.
    """
    c = model.config
    n, m, k, s = c["n"], c["m"], c["k"], c["s"]
    matrices, stored = [], 0
    for name, axis in model.constraints.items():
        W = to_host(model.params[name])
        per_line = count_nonzeros(W, axis)
        stored += int(per_line.sum())
        matrices.append(
            dict(
                name=name,
                shape=list(W.shape),
                nonzeros=int(per_line.sum()),
                axis=axis,
                max_per_line=int(per_line.max()),
                s=s,
                within_constraint=bool(per_line.max() <= s),
            )
        )
    counts = dict(total_parameters=model.parameter_count(), dense_lista=m * n + k * m * m)
    if matrices:
        counts.update(paper_constrained=(2 * k + 1) * s * m, stored_nonzeros=stored)
    return dict(
        checkpoint=str(path),
        config=c,
        matrices=matrices,
        counts=counts,
        file_bytes=os.path.getsize(path),
        code_images=int(len(X)),
        code_zero_fraction=code_zero_fraction(model, X),
    )


def code_statistics(model, X, batch_size: int = BATCH) -> list:
    """Per stage i = 0..k, the sparsity of its code over the inputs X : N x n (evaluation mode).

    Returns one dict per stage: ``zero_fraction`` (exact zeros over all N x m entries),
    ``active_per_image`` (N ints: nonzero units of each image), ``unit_use`` (m floats: the
    fraction of images in which each unit is nonzero), ``units`` (m).  The stages are the
    codes Z0..Zk of DDSE, LISTA and baseline V, the hidden layers H0..Hk of baselines I-III.
    """
    active, use = None, None
    for first in range(0, len(X), batch_size):
        codes = []
        model.features(X[first : first + batch_size], train=False, codes=codes)
        nonzero = [Z != 0 for Z in codes]
        counts = [to_host(z.sum(axis=1)) for z in nonzero]
        sums = [to_host(z.sum(axis=0)) for z in nonzero]
        active = counts if active is None else [np.concatenate(p) for p in zip(active, counts)]
        use = sums if use is None else [a + b for a, b in zip(use, sums)]
    units = int(use[0].shape[0])
    return [
        dict(
            zero_fraction=1.0 - float(a.sum()) / (len(X) * units),
            active_per_image=a.astype(np.int64),
            unit_use=u / len(X),
            units=units,
        )
        for a, u in zip(active, use)
    ]


def dictionary_atoms(model) -> np.ndarray:
    """The first layer's rows mapped back to pixel space: m x H x W host array (H x W: the
    model's image shape; m x d for a model of vectors).

    A unit's input is ``w . x_pca = w . D0^T (x - mu) = (D0 w) . (x - mu)``, so row j of W1
    (DDSE, LISTA, baseline V; ``W.0`` for I-III) is the pixel-space atom ``D0 w_j``: the
    columns of D = D0 W1^T.
    """
    W = to_host(model.params[model.first_layer]).astype(np.float64)
    basis = to_host(model.basis).astype(np.float64)
    atoms = W @ basis.T  # row j = (D0 w_j)^T
    return atoms.reshape(len(atoms), *model.input_shape)


def fixed(x: float, digits: int = 2) -> str:
    """``x`` with ``digits`` decimals, a half rounded away from zero as on paper (2.105 -> 2.11):
    rounded to 9 decimals first, so that a number whose float lies just below the half (the
    mean of 2.13 and 2.08 is the float 2.10499999999999998...) rounds as its decimal value does.
    inf and nan are written as such."""
    if not np.isfinite(x):
        return f"{x}"
    return str(Decimal(f"{x:.9f}").quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def mean_std(numbers, digits: int = 2) -> str:
    """'mean ± sample standard deviation (ddof 1)' of ``numbers``, the mean alone for one number,
    '' for none; each with ``digits`` decimals (:func:`fixed`)."""
    if not len(numbers):
        return ""
    text = fixed(np.mean(numbers), digits)
    return text + (f" ± {fixed(np.std(numbers, ddof=1), digits)}" if len(numbers) > 1 else "")


def _methods(rows: list, order=()) -> list:
    """The methods of ``rows``: those of ``order`` first, in its order, then the rest sorted."""
    present = {r["method"] for r in rows}
    return [m for m in order if m in present] + sorted(present - set(order))


def _value_key(value):
    """Sort key of a sweep value: the flat value None (a method run once for all values) first."""
    return (value is not None, value or 0)


def sweep_table(
    rows: list,
    field: str,
    order=(),
    names=None,
    metric: str = "test_error",
    picks: dict | None = None,
) -> str:
    """A markdown table of ``metric`` (%, 'test_error' or 'val_error') per method (rows) and value
    (columns): mean ± sample standard deviation (ddof 1) over seeds, just the value for one
    seed, with the number of seeds when a cell has fewer than the most.  A method run once for all
    values (value None) fills every column; a cell whose runs all diverged reads 'diverged', one
    where some did says how many; ``picks`` (method -> value) puts a cell in bold.
    """
    values = sorted({r["value"] for r in rows if r["value"] is not None})
    seeds = max(
        [
            len({r["seed"] for r in rows if r["method"] == m and r["value"] == v})
            for m in {r["method"] for r in rows}
            for v in values + [None]
        ]
        or [0]
    )
    what = "validation error" if metric == "val_error" else "test error"
    lines = [
        f"{what} (%), mean ± sample standard deviation over {seeds} seed(s)"
        + ("; **bold**: each method's pick (lowest mean validation error)" if picks else ""),
        "",
        "| method | " + " | ".join(f"{field} {v}" for v in values) + " |",
        "|---|" + "---|" * len(values),
    ]
    for method in _methods(rows, order):
        mine = [r for r in rows if r["method"] == method]
        cells = []
        for v in values:
            errors = [r.get(metric) for r in mine if r["value"] in (v, None)]
            finite = [e for e in errors if e is not None]
            text = mean_std(finite) if finite else ("diverged" if errors else "")
            if finite and len(finite) < seeds:
                text += f" (n={len(finite)})"
            if finite and len(finite) < len(errors):
                text += f", {len(errors) - len(finite)} diverged"
            if picks and picks.get(method) == v and finite:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {(names or {}).get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def runs_table(rows: list, field: str, order=(), names=None) -> str:
    """A markdown table of what each cell of a sweep cost and reached: per method and value, the
    seeds that finished, mean ± sample std of validation and test error (%), mean epochs and SGD
    steps, and mean minutes per run; diverged runs count in ``diverged``, not in those means.  The
    last column sums the minutes of every run of the cell, diverged ones included (its full cost).
    """

    lines = [
        "per run: mean (± sample standard deviation) over the seeds that finished; minutes of "
        "wall time (one BLAS thread per run); the last column: every run of the cell, diverged "
        "ones included",
        "",
        f"| method | {field} | seeds | diverged | validation error | test error | epochs "
        "| steps | minutes | minutes, all runs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in _methods(rows, order):
        mine = [r for r in rows if r["method"] == method]
        for value in sorted({r["value"] for r in mine}, key=_value_key):
            cell = [r for r in mine if r["value"] == value]
            done = [r for r in cell if r.get("test_error") is not None]
            pick = lambda key: [float(r[key]) for r in done if r.get(key) is not None]  # noqa: E731
            minutes = [seconds / 60 for seconds in pick("seconds")]
            lines.append(
                f"| {(names or {}).get(method, method)} | {'(all)' if value is None else value} | "
                f"{len(done)} | {len(cell) - len(done)} | {mean_std(pick('val_error'))} | "
                f"{mean_std(pick('test_error'))} | {mean_std(pick('epochs'), 1)} | "
                f"{mean_std(pick('steps'), 0)} | {mean_std(minutes, 1)} | "
                f"{sum(float(r.get('seconds') or 0) for r in cell) / 60:.1f} |"
            )
    return "\n".join(lines)


def every_run_table(rows: list, field: str, order=(), names=None, planned=None) -> str:
    """A markdown table of every run, one line each (methods in ``order``, then by value and seed):
    its learning rate (unless ``field`` is the learning rate itself), validation and test error
    (%), epochs, SGD steps, what ended it, minutes of wall time (``seconds`` / 60) and the row's
    ``note`` (e.g. "resumed from a partial run after epoch 86").

    ``planned`` (method, value) -> the settings the run was given (``epochs`` and ``schedule``), or
    None where unknown.  A row recording ``schedule_ended`` was ended by its plateau schedule (the
    learning rate fell below min_lr), even on the cap's last epoch.  For a row without that record
    (older sweeps), on the plateau schedule a finished run with fewer epochs was ended by that
    schedule, one with exactly as many by the cap; on the step schedule a run of all its epochs ran
    its fixed schedule; otherwise the cell stays empty.  A run without a test error diverged.
    """

    def text(x, digits=None):
        return "" if x is None else fixed(float(x), digits) if digits is not None else str(x)

    lr = [] if field == "lr" else ["lr"]
    header = ["method", field, "seed", *lr, "validation error", "test error"]
    header += ["epochs", "steps", "ended by", "minutes", "note"]
    lines = [
        "every run: errors in %; ended by: its plateau schedule, the epoch cap it was given "
        "(in brackets), all the epochs of its fixed step schedule, or divergence; minutes of "
        "wall time (one BLAS thread per run)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for method in _methods(rows, order):
        for r in sorted(
            (r for r in rows if r["method"] == method),
            key=lambda r: (_value_key(r["value"]), r["seed"]),
        ):
            minutes = None if r.get("seconds") is None else r["seconds"] / 60
            cells = [
                (names or {}).get(method, method),
                "(all)" if r["value"] is None else r["value"],
                r["seed"],
                *(text(r.get("lr")) for _ in lr),
                text(r.get("val_error"), 2),
                text(r.get("test_error"), 2),
                text(r.get("epochs")),
                text(r.get("steps")),
                _ended_by(r, planned),
                text(minutes, 1),
                r.get("note") or "",
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _ended_by(row: dict, planned=None) -> str:
    """What ended a run (:func:`every_run_table`'s "ended by" column), '' where unknown."""
    if row.get("test_error") is None:
        return "diverged"
    if row.get("schedule_ended"):  # recorded by the run itself (older rows have no such field)
        return "schedule"
    given, epochs = planned(row["method"], row["value"]) if planned else None, row.get("epochs")
    budget = given.get("epochs") if isinstance(given, dict) else None
    if not isinstance(budget, int) or not isinstance(epochs, int):
        return ""
    if given.get("schedule") == "step":
        return f"fixed schedule ({budget})" if epochs == budget else ""
    return "schedule" if epochs < budget else f"epoch cap ({budget})" if epochs == budget else ""
