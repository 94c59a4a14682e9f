"""Any labelled data as one ``.npz`` file: ``X_train``, ``y_train`` and, optionally, ``X_test``,
``y_test`` (written by ``numpy.savez``).

``X`` holds N x n vectors or N x H x W images, of any n >= 1 or H x W; uint8 is read as pixels
0..255 (divided by 255), any other numeric type is used as given.  ``y`` holds N integer or
string labels; the classes are the distinct training labels in sorted order (at least 2), so
label c of a :class:`~ddse_np.data.split.Split` names ``classes[c]``.  Without ``X_test``, a
stratified test split of ``TEST_FRACTION`` of the examples is drawn from the seed ``TEST_SEED``:
the same split every time the file is read, whatever the run's seed.  Unlabelled inputs to
predict (:func:`load_inputs`) come as an ``.npy`` file or an ``.npz`` file's ``X``.  Bad data ends
in one line naming the file and what is wrong (:class:`~ddse_np.errors.DDSEError`).
"""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DDSEError
from .split import Split, stratified_split

TEST_FRACTION = 0.2  # of the examples held out as the test split when the file has none
TEST_SEED = 0  # the seed of that split (fixed: eval, compare and inspect find the same one)
KEYS = ("X_train", "y_train", "X_test", "y_test")


def is_npz(source) -> bool:
    return str(source).lower().endswith(".npz")


def load_npz(path, which: str) -> Split:
    """The 'train' or 'test' split of the ``.npz`` file at ``path``."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DDSEError(f"data file {path} does not exist") from None
    except OSError as exc:
        raise DDSEError(f"data file {path}: {exc.strerror or exc}") from None
    train, test = _read(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return train if which == "train" else test


def test_split_record(path) -> dict | None:
    """How the test split of ``path`` was made: None when the file holds ``X_test``, else the
    drawn split's fraction and seed (recorded in checkpoints)."""
    with _open(Path(path)) as data:
        has_test = "X_test" in data.files
    return None if has_test else dict(fraction=TEST_FRACTION, seed=TEST_SEED)


def load_inputs(path) -> np.ndarray:
    """Unlabelled inputs to predict: an ``.npy`` file of N inputs, or an ``.npz`` file's array
    ``X`` (else its ``X_test``): N x n vectors or N x H x W images, checked as training inputs
    are (numbers, finite, at least one).  Raises DDSEError in one line naming the file."""
    path = Path(path)
    if not path.exists():
        raise DDSEError(f"inputs file {path} does not exist")
    if path.suffix.lower() == ".npy":
        return _inputs(_load_npy(path), "the array", path)
    if not is_npz(path):
        raise DDSEError(f"{path}: give the inputs as an .npy file or an .npz file with an array X")
    with _open(path) as data:
        key = next((k for k in ("X", "X_test") if k in data.files), None)
        if key is None:
            held = ", ".join(sorted(data.files))
            raise DDSEError(f"{path}: no X or X_test array (it holds {held})")
        return _inputs(_array(data, key, path), key, path)


def _load_npy(path: Path):
    try:
        with open(path, "rb") as fh:
            numpy_header = fh.read(6) == b"\x93NUMPY"
        X = np.load(path, allow_pickle=False) if numpy_header else None
    except Exception as exc:  # OSError, a garbled header or data (ValueError, EOFError, ...)
        raise DDSEError(f"{path}: not a readable .npy file ({_reason(exc)})") from None
    if not numpy_header:
        raise DDSEError(f"{path}: not an .npy file (no NumPy header)")
    return X


def _open(path: Path):
    try:
        with open(path, "rb") as fh:
            npy = fh.read(6) == b"\x93NUMPY"
        if not npy and not zipfile.is_zipfile(path):  # else numpy speaks of a pickle
            raise DDSEError(f"{path}: not a readable .npz file (not a zip archive of arrays)")
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DDSEError(f"data file {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DDSEError(f"{path}: not a readable .npz file ({_reason(exc)})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DDSEError(f"{path}: holds a single array (.npy), not an .npz of named arrays")
    return data


@lru_cache(maxsize=2)
def _read(path: str, mtime_ns: int, size: int):
    """(train, test) splits of the file, read once per process while it is unchanged."""
    with _open(Path(path)) as data:
        names = set(data.files)
        for key in ("X_train", "y_train"):
            if key not in names:
                raise DDSEError(f"{path}: no {key} array (it holds {', '.join(sorted(names))})")
        if ("X_test" in names) != ("y_test" in names):
            given, lacking = ("X_test", "y_test") if "X_test" in names else ("y_test", "X_test")
            raise DDSEError(f"{path}: {given} without {lacking}")
        arrays = {key: _array(data, key, path) for key in KEYS if key in names}
    X, y = _inputs(arrays["X_train"], "X_train", path), _labels(arrays["y_train"], "y_train", path)
    _same_count(X, y, "train", path)
    classes = np.unique(y)
    if len(classes) < 2:
        only = classes[0].item()
        raise DDSEError(f"{path}: y_train holds one class only ({only!r}): need at least 2")
    names_ = tuple(classes.tolist())
    if "X_test" not in arrays:
        rest, held = stratified_split(
            np.searchsorted(classes, y),
            round(TEST_FRACTION * len(y)) or 1,
            np.random.default_rng(TEST_SEED),
        )
        encoded = np.searchsorted(classes, y).astype(np.int64)
        full = Split(X, encoded, names_)
        return full.take(rest), full.take(held)
    Xt, yt = _inputs(arrays["X_test"], "X_test", path), _labels(arrays["y_test"], "y_test", path)
    _same_count(Xt, yt, "test", path)
    if Xt.shape[1:] != X.shape[1:]:
        raise DDSEError(f"{path}: X_test has inputs of shape {_shape(Xt)}, X_train of {_shape(X)}")
    if Xt.dtype.kind != X.dtype.kind and np.uint8 in (Xt.dtype, X.dtype):
        raise DDSEError(f"{path}: X_test is {Xt.dtype}, X_train {X.dtype}: give both one type")
    unknown = np.setdiff1d(yt, classes)
    if len(unknown):
        raise DDSEError(f"{path}: y_test holds class {unknown[0].item()!r}, which y_train has not")
    train = Split(X, np.searchsorted(classes, y).astype(np.int64), names_)
    return train, Split(Xt, np.searchsorted(classes, yt).astype(np.int64), names_)


def _array(data, key, path):
    try:
        return data[key]
    except ValueError as exc:  # object arrays: refused without pickle
        raise DDSEError(f"{path}: {key} is not a plain numeric array ({_reason(exc)})") from None
    except Exception as exc:  # a damaged member: BadZipFile, zlib.error, a garbled header, ...
        raise DDSEError(f"{path}: {key} cannot be read ({_reason(exc)})") from None


def _inputs(X: np.ndarray, key: str, path) -> np.ndarray:
    if X.dtype.kind not in "uif" or X.dtype == np.bool_:
        raise DDSEError(f"{path}: {key} is of type {X.dtype}; inputs must be numbers")
    if X.ndim not in (2, 3) or 0 in X.shape[1:]:
        raise DDSEError(
            f"{path}: {key} has shape {X.shape}: give N x n vectors or N x H x W images"
        )
    if len(X) == 0:
        raise DDSEError(f"{path}: {key} holds no examples")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        where = tuple(int(i) for i in bad)
        raise DDSEError(f"{path}: {key} holds NaN or infinity (first at index {where})")
    return X


def _labels(y: np.ndarray, key: str, path) -> np.ndarray:
    if y.ndim != 1:
        raise DDSEError(f"{path}: {key} has shape {y.shape}: give one label per example")
    if y.dtype.kind not in "iuUSb":
        raise DDSEError(f"{path}: {key} is of type {y.dtype}; labels must be integers or strings")
    return y.astype(str) if y.dtype.kind == "S" else y


def _same_count(X, y, which, path):
    if len(X) != len(y):
        raise DDSEError(f"{path}: X_{which} holds {len(X)} examples but y_{which} {len(y)} labels")


def _shape(X) -> str:
    return " x ".join(map(str, X.shape[1:]))


def _reason(exc) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
