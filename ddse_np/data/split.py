"""A labelled set of inputs (:class:`Split`), the scaling rule of raw inputs, and the
stratified splits every run draws from a seed.

Inputs are host numpy arrays, N x n vectors or N x H x W images.  uint8 inputs are pixels
0..255 and are divided by 255; every other numeric type is used as given, never rescaled
(:func:`input_divisor`).  Labels are int64 in 0..C-1, the index into ``classes``, the names the
labels had in the data (integers or strings).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import DDSEError

MNIST_CLASSES = tuple(range(10))


@dataclass
class Split:
    """Inputs (N x n or N x H x W; uint8 pixels or any other numeric type) and their labels
    (N, int64 in 0..C-1, where label c names class ``classes[c]``)."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple = field(default=MNIST_CLASSES)

    def __len__(self):
        return len(self.labels)

    def take(self, index) -> "Split":
        return Split(self.images[index], self.labels[index], self.classes)

    @property
    def input_shape(self) -> tuple:
        """(n,) for vectors, (H, W) for images."""
        return tuple(int(d) for d in self.images.shape[1:])

    def relabel(self, classes, where: str = "the data") -> "Split":
        """The same inputs with labels indexing ``classes`` (a model's class names) instead.

        Raises DDSEError when a class of this split is not one of ``classes``.
        """
        classes = tuple(classes)
        if list(map(repr, classes)) == list(map(repr, self.classes)):  # (0, 1) is not (False, True)
            return self
        index = {repr(name): c for c, name in enumerate(classes)}
        present = np.unique(self.labels)
        missing = [self.classes[c] for c in present if repr(self.classes[c]) not in index]
        if missing:
            raise DDSEError(
                f"{where}: class {missing[0]!r} is not one of the model's "
                f"{len(classes)} classes ({', '.join(map(repr, classes[:10]))}"
                f"{', ...' if len(classes) > 10 else ''})"
            )
        # classes of the data without an example here map anywhere: no label points at them
        mapping = np.array([index.get(repr(name), 0) for name in self.classes], dtype=np.int64)
        return Split(self.images, mapping[self.labels], classes)


def input_divisor(images: np.ndarray) -> float:
    """What raw inputs are divided by: 255 for uint8 pixels, 1 (used as given) otherwise."""
    return 255.0 if np.asarray(images).dtype == np.uint8 else 1.0


def flatten(images: np.ndarray, dtype, divisor: float = 255.0) -> np.ndarray:
    """N x ... inputs -> N x n floats of ``dtype``, divided by ``divisor`` (uint8 pixels: 255)."""
    dtype = np.dtype(dtype)
    flat = np.asarray(images).reshape(len(images), -1).astype(dtype)
    return flat if divisor == 1.0 else flat / dtype.type(divisor)


def fingerprint(split: Split) -> dict:
    """What identifies a training set: count and shape of its inputs, a SHA-256 of labels and
    inputs (and the class names, when they are not MNIST's 0..9)."""
    digest = hashlib.sha256(np.ascontiguousarray(split.images).tobytes())
    digest.update(np.asarray(split.labels, dtype="<i8").tobytes())
    if split.classes != MNIST_CLASSES:
        digest.update(repr(split.classes).encode())
    return dict(
        images=int(len(split)), shape=list(split.images.shape[1:]), sha256=digest.hexdigest()
    )


def stratified_split(labels: np.ndarray, size: int, rng: np.random.Generator):
    """Split indices into (rest, held_out) with ``size`` held out, classes in proportion.

    Each class c contributes round(size * n_c / N) items (the rounding is
    corrected so that exactly ``size`` are held out).  Both index arrays are
    sorted, so the split does not depend on the order of the data.
    """
    n = len(labels)
    if not 0 <= size < n:
        raise DDSEError(f"cannot hold out {size} of {n} examples")
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(size * counts / n).astype(np.int64)
    remainder = size * counts / n - quota
    for c in np.argsort(-remainder, kind="stable")[: size - quota.sum()]:
        quota[c] += 1
    held = []
    for c, q in zip(classes, quota):
        members = np.flatnonzero(labels == c)
        held.append(rng.choice(members, size=q, replace=False))
    held = np.sort(np.concatenate(held))
    rest = np.setdiff1d(np.arange(n), held, assume_unique=True)
    return rest, held


def stratified_subset(labels: np.ndarray, fraction: float, rng: np.random.Generator):
    """Indices of a class-stratified subset holding ``fraction`` of the examples (paper's ts/t)."""
    if not 0.0 < fraction <= 1.0:
        raise DDSEError(f"train fraction {fraction} is outside (0, 1]")
    if fraction == 1.0:
        return np.arange(len(labels))
    keep = int(round(fraction * len(labels)))
    if keep < 1:
        raise DDSEError(f"train fraction {fraction} keeps no examples")
    _, subset = stratified_split(labels, keep, rng)
    return subset
