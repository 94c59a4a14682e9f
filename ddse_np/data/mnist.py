"""MNIST-format data: finding the four IDX files of a directory and validating them.

Everything here is host-side numpy: images stay uint8 (N x 28 x 28) until
they are scaled to [0, 1], flattened and projected by PCA (:mod:`ddse_np.data.split`).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DDSEError
from .idx import read_idx
from .split import (  # the names this module had before they served every kind of data
    Split,
    fingerprint,
    flatten,
    stratified_split,
    stratified_subset,
)

__all__ = [
    "BUNDLED_MNIST",
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "Split",
    "bundled_mnist",
    "default_data_dir",
    "fingerprint",
    "flatten",
    "load_split",
    "stratified_split",
    "stratified_subset",
]


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
