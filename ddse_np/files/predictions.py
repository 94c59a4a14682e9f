"""Files of predicted classes, one per input (``ddse predict``): a CSV or a NumPy ``.npy`` array.

``.csv`` (UTF-8): a header ``index,label`` and one line per input, its row number in the inputs
and the name of the class predicted for it (as the training labels named it).  ``.npy``: the N
class names as one array: integer names in the smallest integer type that holds them (uint8 for
MNIST's digits), string names as a unicode array.  Written atomically (:mod:`ddse_np.files.atomic`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DDSEError
from .atomic import atomic_path

FORMATS = (".csv", ".npy")


def check_format(path) -> Path:
    """Raise DDSEError unless ``path`` ends in one of :data:`FORMATS`; returns it as a Path."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise DDSEError(
            f"cannot write predictions to {path}: give a file ending in {' or '.join(FORMATS)}"
        )
    return path


def class_names_array(names) -> np.ndarray:
    """N class names as an array: integers in the smallest integer type that holds them."""
    names = np.asarray(names)
    if names.dtype.kind not in "iu" or not names.size:
        return names
    low, high = int(names.min()), int(names.max())
    unsigned = (np.uint8, np.uint16, np.uint32, np.uint64)
    kinds = unsigned if low >= 0 else (np.int8, np.int16, np.int32)
    fits = (t for t in kinds if np.iinfo(t).min <= low and high <= np.iinfo(t).max)
    return names.astype(next(fits, names.dtype))


def write_predictions(path, names) -> Path:
    """Write the N predicted class names ``names`` to ``path`` (.csv or .npy, see the module).

    Raises DDSEError for another suffix, or (in one line) when the file cannot be written.
    """
    path = check_format(path)
    names = class_names_array(names)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, names, allow_pickle=False)
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(("index", "label"))
                writer.writerows(enumerate(names.tolist()))
    return path
