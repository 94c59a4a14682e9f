"""Where a run's data come from: an MNIST-format directory or an ``.npz`` file
(:mod:`ddse_np.data.npz`), behind one :func:`load_split`."""

from __future__ import annotations

from pathlib import Path

from ..errors import DDSEError
from . import mnist
from .npz import is_npz, load_npz, test_split_record
from .split import Split


def load_split(source, which: str) -> Split:
    """The 'train' or 'test' split of ``source``: an MNIST-format directory or an .npz file.

    Raises DDSEError in one line for a missing or unreadable source or bad data.
    """
    if is_npz(source):
        return load_npz(source, which)
    path = Path(source)
    if path.is_file():
        raise DDSEError(
            f"{path}: --data takes a directory of MNIST-format files or an .npz file "
            "(X_train, y_train[, X_test, y_test])"
        )
    return mnist.load_split(path, which)


def known_shape(source) -> tuple | None:
    """The shape of one input of ``source`` when it is known before reading it: (28, 28) for an
    MNIST-format directory, None for an .npz file."""
    return None if is_npz(source) else mnist.IMAGE_SHAPE


def record(source) -> dict:
    """What a checkpoint records of where its data came from (beside their fingerprint)."""
    entry = dict(directory=str(Path(source).resolve()))
    if is_npz(source):
        entry["test_split"] = test_split_record(source)
    return entry
