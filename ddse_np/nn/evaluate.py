"""Test error, loss and per-class error of a model on preprocessed inputs."""

from __future__ import annotations

import numpy as np

from ..backend import array_module, to_host
from .layers import softmax_xent_forward

BATCH = 2000  # images per forward pass when evaluating (memory, not results, depends on it)
# A diverged model (huge but finite weights) overflows in its forward pass: its non-finite logits
# predict no class (-1, see classes_of), so they count as errors, and its loss is inf or nan,
# reported as such, without numpy's warnings (the training loop reports a non-finite loss
# itself, as a NumericalFault).
QUIET_OVERFLOW = dict(over="ignore", invalid="ignore", divide="ignore")


def classes_of(logits):
    """logits : N x C -> N predicted classes on the host: the argmax of each row, -1 (no class)
    for a row with any logit that is not finite, the output of an overflowing (diverged) model,
    whose softmax is undefined (argmax would call a row of NaNs class 0)."""
    xp = array_module(logits)
    return to_host(xp.where(xp.isfinite(logits).all(axis=1), logits.argmax(axis=1), -1))


def predict(model, X, batch_size: int = BATCH):
    """Predicted classes of X : N x n (PCA inputs on the model's backend): N ints on the host
    (an empty array for N = 0), -1 where the model's outputs are not finite (a diverged model:
    no class; :func:`classes_of`)."""
    if len(X) == 0:
        return np.empty(0, dtype=np.int64)
    with np.errstate(**QUIET_OVERFLOW):
        return np.concatenate(
            [
                classes_of(model.forward(X[first : first + batch_size]))
                for first in range(0, len(X), batch_size)
            ]
        )


def mcnemar(correct_a, correct_b) -> dict:
    """The exact McNemar test of two classifiers on the same test items.

    correct_a, correct_b : N booleans (item i classified right by A, by B).  Only the discordant
    items count: b = right by A only, c = right by B only; under the null hypothesis that both
    classifiers err alike, b ~ Binomial(b + c, 1/2).  Returns dict(only_a=b, only_b=c, both=...,
    neither=..., p_value): the two-sided exact binomial p-value (scipy.stats.binomtest), 1.0
    when b + c = 0.  Source: McNemar (1947); Dietterich (1998), "Approximate statistical tests
    for comparing supervised classification learning algorithms".
    Raises ValueError when the two arrays differ in shape.
    """
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"the two classifiers' results have shapes {a.shape} and {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return dict(
        only_a=only_a,
        only_b=only_b,
        both=int((a & b).sum()),
        neither=int((~a & ~b).sum()),
        p_value=float(p),
    )


def evaluate(model, X, y, batch_size: int = BATCH) -> dict:
    """Evaluate on X : N x n (PCA inputs, on the model's backend), y : N labels.

    Returns a dict of host values: ``error`` (% misclassified), ``loss`` (mean
    cross-entropy), ``per_class_error`` (% for each class, a list), ``count``.
    A diverged model's overflowing outputs give a loss of inf or nan, not warnings.
    Raises ValueError for N = 0 (no error rate to give).
    """
    if len(X) == 0:
        raise ValueError("no inputs to evaluate (N = 0)")
    loss_sum, predictions = 0.0, []
    with np.errstate(**QUIET_OVERFLOW):
        for first in range(0, len(X), batch_size):
            logits = model.forward(X[first : first + batch_size])
            loss, _ = softmax_xent_forward(logits, y[first : first + batch_size])
            loss_sum += float(loss) * len(logits)
            predictions.append(classes_of(logits))
    predicted = np.concatenate(predictions)
    labels = to_host(y)
    wrong = predicted != labels
    classes = model.config.get("classes", int(labels.max()) + 1)
    per_class = [
        100.0 * float(wrong[labels == c].mean()) if np.any(labels == c) else float("nan")
        for c in range(classes)
    ]
    return dict(
        error=100.0 * float(wrong.mean()),
        loss=loss_sum / len(X),
        per_class_error=per_class,
        count=int(len(X)),
    )


def code_zero_fraction(model, X, batch_size: int = BATCH) -> float:
    """Fraction of exact zeros in the final code Z_k over the inputs X : N x n."""
    zeros, total = 0, 0
    for first in range(0, len(X), batch_size):
        Z = model.encode(X[first : first + batch_size])
        zeros += int((Z == 0).sum())
        total += Z.size
    return zeros / total
