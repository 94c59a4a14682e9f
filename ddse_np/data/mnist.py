"""MNIST-format data: finding the four files, validating them, stratified splits.

Everything here is host-side numpy: images stay uint8 (N x 28 x 28) until
they are scaled to [0, 1], flattened and projected by PCA.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DDSEError
from .idx import read_idx


def bundled_mnist() -> Path:
    """The directory of the MNIST files that come with ddse-np.

    An installed package (wheel, ``pip install .``) carries them as ``ddse_np/mnist``
    (pyproject.toml maps the repository's ``data/mnist`` there); a checkout or an
    editable install reads ``data/mnist`` of the repository itself.
    """
    installed = resources.files("ddse_np") / "mnist"
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "data" / "mnist"


BUNDLED_MNIST = bundled_mnist()
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)

# Standard names, with the dot variant some mirrors use; each may end in .gz.
_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


@dataclass
class Split:
    """Images (N x 28 x 28 uint8) and labels (N, int64 in 0..9)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)

    def take(self, index) -> "Split":
        return Split(self.images[index], self.labels[index])


def default_data_dir() -> Path:
    """``$DDSE_DATA`` if set, else the MNIST that comes with ddse-np (:func:`bundled_mnist`)."""
    return Path(os.environ.get("DDSE_DATA", BUNDLED_MNIST))


def _find(directory: Path, key: str) -> Path:
    for base in _NAMES[key]:
        for name in (base, base + ".gz"):
            if (directory / name).is_file():
                return directory / name
    raise DDSEError(f"{directory}: no {_NAMES[key][0]}[.gz] file found")


def _load_pair(directory: Path, which: str) -> Split:
    images_path = _find(directory, f"{which}_images")
    labels_path = _find(directory, f"{which}_labels")
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != IMAGE_SHAPE:
        raise DDSEError(
            f"{images_path.name}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28"
        )
    if len(images) != len(labels):
        raise DDSEError(f"{which} split: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise DDSEError(f"{labels_path.name}: holds no labels")
    if labels.max() >= NUM_CLASSES:
        raise DDSEError(f"{labels_path.name}: label {int(labels.max())} outside 0..9")
    return Split(images, labels.astype(np.int64))


def load_split(directory, which: str) -> Split:
    """Load the 'train' or 'test' split of an MNIST-format directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DDSEError(f"data directory {directory} does not exist")
    return _load_pair(directory, which)


def fingerprint(split: Split) -> dict:
    """What identifies a training set: image count and shape, and a SHA-256 of labels and pixels."""
    digest = hashlib.sha256(np.ascontiguousarray(split.images).tobytes())
    digest.update(np.asarray(split.labels, dtype="<i8").tobytes())
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


def flatten(images: np.ndarray, dtype) -> np.ndarray:
    """N x 28 x 28 uint8 -> N x n floats in [0, 1]."""
    dtype = np.dtype(dtype)
    return (images.reshape(len(images), -1).astype(dtype)) / dtype.type(255)
