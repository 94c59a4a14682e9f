"""HDF5 checkpoints (h5py), written atomically, constrained matrices stored sparse.

Layout (format version 2)::

    /                 attrs: format = "ddse-np checkpoint", format_version, config (JSON)
    /preprocessing    mean (n), basis (n x n)
    /params/NAME      a dataset for dense parameters (theta.i, V, c, ...)
    /params/NAME/     a group for constrained ones: mask (L x ceil(a/8) uint8, the packed bitmap
                      of the s kept positions of each line), values (L x s), attrs shape, axis
                      ('row': L = rows of length a; 'col': L = columns)
    /history/FIELD    one dataset per history column (epoch, train_loss, ...)
    /train            attrs: training config, progress, lr and schedule state (each JSON)
    /resume/velocity/NAME   optimizer state, dense (only what resuming needs)
    /resume/params/NAME     the current parameters, when they are not the saved model's (stopped
                            mid-epoch before the projection, or --keep best after a worse epoch)

Saving converts every array to the host first and writes through
:func:`ddse_np.files.atomic.atomic_path`: a crash leaves either the old file or the
new one, never half of one.

The file starts with a 512-byte HDF5 user block that holds ``SEAL`` and the SHA-256 of every
byte after the block.  Loading checks it before HDF5 reads anything: a damaged file is refused in
one line, where the HDF5 library can loop forever on some damaged ones.  (Files written before
the seal load without the check.)
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import h5py
import numpy as np

from ..backend import DTYPES, Backend, as_backend, to_host
from ..errors import DDSEError
from ..nn.models import MODELS
from ..nn.sparsity import from_sparse, to_sparse
from .atomic import atomic_path, check_target

FORMAT = "ddse-np checkpoint"
USER_BLOCK = 512  # bytes before the HDF5 data: the seal
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # at the start of an HDF5 file's data (after any user block)
# the seal, then the 64 hex digits of the SHA-256 of the bytes after the block
SEAL = b"ddse-np checkpoint sha256 "
FORMAT_VERSION = 2  # 2: sparse matrices as bitmaps (1, of a pre-release, stored uint16 indices)
MAX_SIZE = 1 << 20  # largest n, m or class count a checkpoint may declare
MAX_EPOCHS = 1 << 20


def save(
    path,
    model,
    history: dict | None = None,
    train_state: dict | None = None,
    resume: dict | None = None,
):
    """Write ``model`` (projected already), its history and training state to ``path`` atomically.

    ``resume`` maps 'velocity/NAME' or 'params/NAME' to host arrays (see
    :mod:`ddse_np.training.state`).
    """
    path = check_target(path)
    buffer = io.BytesIO()  # HDF5 is built in memory, so that a failing disk is a plain OSError
    with h5py.File(buffer, "w", userblock_size=USER_BLOCK) as f:
        _write(f, model, history or {}, train_state or {}, resume or {})
    data = buffer.getbuffer()
    seal = SEAL + hashlib.sha256(data[USER_BLOCK:]).hexdigest().encode()
    data[: len(seal)] = seal
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def _put(group, name, data):
    """One dataset; arrays of 1,024 or more entries are stored with shuffle + gzip level 4
    (the sparse values, bitmaps and the PCA basis shrink by about a sixth)."""
    data = np.asarray(data)
    if data.size >= 1024:
        return group.create_dataset(
            name, data=data, compression="gzip", compression_opts=4, shuffle=True, chunks=True
        )
    return group.create_dataset(name, data=data)


def _write(f, model, history, train_state, resume):
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["config"] = json.dumps(model.config, allow_nan=False)
    pre = f.create_group("preprocessing")
    _put(pre, "mean", to_host(model.mean))
    _put(pre, "basis", to_host(model.basis))
    params = f.create_group("params")
    constraints = model.constraints
    for name, value in model.params.items():
        host = to_host(value)
        if name in constraints:
            mask, values = to_sparse(host, model.s, constraints[name])
            g = params.create_group(name)
            _put(g, "mask", mask)
            _put(g, "values", values)
            g.attrs["shape"] = host.shape
            g.attrs["axis"] = constraints[name]
        else:
            _put(params, name, host)
    hist = f.create_group("history")
    for name, values in history.items():
        _put(hist, name, np.asarray(values, dtype=np.float64))
    train = f.create_group("train")
    for name, value in train_state.items():
        train.attrs[name] = json.dumps(value, allow_nan=False)
    group = f.create_group("resume")
    for name, value in resume.items():
        _put(group, name, value)


def load(path, backend: Backend | str = "numpy", dtype: str | None = None):
    """Read a checkpoint.

    Returns (model, extras) where extras = dict(history=..., train=..., format_version=...).
    ``backend`` is a name or a :class:`Backend`; ``dtype`` defaults to the saved one.
    Every problem with the file ends in a one-line :class:`DDSEError`.
    """
    path = Path(path)
    if path.is_dir():
        raise DDSEError(f"checkpoint {path} is a directory, not a file")
    if not path.is_file():
        raise DDSEError(f"checkpoint {path} does not exist")
    _check_seal(path)
    try:
        with h5py.File(path, "r") as f:
            return _read(f, path, backend, dtype)
    except DDSEError:
        raise
    except Exception as exc:  # h5py and numpy raise many types on damaged files
        text = str(exc)
        if "unable to lock file" in text:
            # EAGAIN: another process holds it
            if "temporarily unavailable" in text or "would block" in text:
                raise DDSEError(
                    f"{path} is locked by another process (HDF5 file locking): wait until it has "
                    f"finished writing, or, if you know nothing writes it, set "
                    f"HDF5_USE_FILE_LOCKING=FALSE"
                ) from None
            # e.g. errno 37: a file system without locks (some NFS mounts)
            raise DDSEError(
                f"{path}: cannot lock it for reading ({_first_line(exc)}); on a file system "
                f"without file locks, set HDF5_USE_FILE_LOCKING=FALSE"
            ) from None
        raise DDSEError(f"{path}: not a readable ddse checkpoint ({_first_line(exc)})") from None


def _check_seal(path):
    """Refuse a sealed checkpoint whose bytes are not the ones written (see the module doc)."""
    try:
        with open(path, "rb") as fh:
            _refuse_if_locked(fh, path)  # a file open for writing elsewhere: its bytes are changing
            head = fh.read(USER_BLOCK)
            after = fh.read(len(HDF5_SIGNATURE))
            if not head.startswith(SEAL):
                if after == HDF5_SIGNATURE:  # the layout ddse-np writes, its seal damaged
                    raise DDSEError(f"{path}: damaged checkpoint (its checksum is unreadable)")
                return  # not sealed: written before the seal, or not a ddse checkpoint at all
            fh.seek(USER_BLOCK)
            digest = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DDSEError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    expected = head[len(SEAL) : len(SEAL) + 64].decode("ascii", "replace")
    if digest.hexdigest() != expected:
        raise DDSEError(
            f"{path}: damaged checkpoint (its bytes do not match the checksum written with it: "
            f"truncated, or changed since it was saved)"
        )


def _refuse_if_locked(fh, path):
    """The one-line refusal for a file another process holds HDF5's write lock on (flock)."""
    import os

    try:
        import fcntl
    except ImportError:  # not on this platform: HDF5 reports a lock itself
        return
    if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() == "FALSE":
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise DDSEError(
            f"{path} is locked by another process (HDF5 file locking): wait until it has "
            f"finished writing, or, if you know nothing writes it, set "
            f"HDF5_USE_FILE_LOCKING=FALSE"
        ) from None
    except OSError:
        return  # a file system without locks: HDF5 says so
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read(f, path, backend, dtype):
    if f.attrs.get("format") != FORMAT:
        raise DDSEError(f"{path}: not a ddse checkpoint")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise DDSEError(
            f"{path}: checkpoint format {version} is newer than this ddse-np "
            f"reads ({FORMAT_VERSION}); upgrade ddse-np"
        )
    if version < 1:
        raise DDSEError(f"{path}: checkpoint has no valid format version")
    if version < FORMAT_VERSION:
        raise DDSEError(
            f"{path}: checkpoint format {version} was written by a pre-release of ddse-np 0.1.0; "
            f"this version reads format {FORMAT_VERSION} only: train the model again"
        )
    config = _check_config(json.loads(f.attrs["config"]), path)
    cls = MODELS[config["model"]]
    backend = as_backend(backend, dtype or config["dtype"])
    expected = cls.param_shapes(config)
    stored = f["params"]
    if set(stored.keys()) != set(expected):
        raise DDSEError(
            f"{path}: parameters {sorted(stored.keys())} do not match a "
            f"{config['model']} model ({sorted(expected)})"
        )
    params = {}
    for name, shape in expected.items():
        item = stored[name]
        if isinstance(item, h5py.Group):
            host = _read_sparse(item, name, shape, config["s"], path)
        else:
            host = _read_dataset(item, shape, f"parameter {name}", path)
        if not np.all(np.isfinite(host)):
            raise DDSEError(f"{path}: parameter {name} holds NaN or infinity")
        params[name] = backend.asarray(host)
    model = cls(params, config, backend)
    n, d = config["n"], config.get("inputs", config["n"])
    mean = _read_dataset(f["preprocessing/mean"], (d,), "PCA mean", path)
    basis = _read_dataset(f["preprocessing/basis"], (d, n), "PCA basis", path)
    model.set_pca(mean, basis)
    history = {}
    for name, item in f["history"].items() if "history" in f else ():
        history[name] = _read_dataset(
            item, (min(item.shape[0], MAX_EPOCHS),), f"history {name}", path
        ).tolist()
    train = {name: json.loads(v) for name, v in f["train"].attrs.items()} if "train" in f else {}
    resume = _read_resume(f, expected, path) if "resume" in f else {}
    return model, dict(history=history, train=train, resume=resume, format_version=version)


def _read_resume(f, expected, path):
    resume = {}
    for kind in f["resume"]:
        if kind not in ("velocity", "params"):
            raise DDSEError(f"{path}: unknown resume state {kind!r}")
        resume[kind] = {}
        for name, dataset in f["resume"][kind].items():
            if name not in expected:
                raise DDSEError(f"{path}: resume state {kind}/{name} does not match the model")
            resume[kind][name] = _read_dataset(
                dataset, expected[name], f"resume state {kind}/{name}", path
            )
    return resume


def _check_config(config, path) -> dict:
    """The stored config must name a known model with sizes in range, before any allocation."""
    if not isinstance(config, dict) or config.get("model") not in MODELS:
        model = config.get("model") if isinstance(config, dict) else None
        raise DDSEError(f"{path}: unknown model {model!r}")
    for key, low, high in (
        ("n", 1, MAX_SIZE),
        ("m", 1, MAX_SIZE),
        ("k", 1, 1000),
        ("classes", 2, MAX_SIZE),
    ):
        value = config.get(key)
        if not isinstance(value, int) or not low <= value <= high:
            raise DDSEError(f"{path}: config {key} = {value!r} is out of range")
    s = config.get("s")
    if s is not None and (not isinstance(s, int) or not 1 <= s <= config["n"]):
        raise DDSEError(f"{path}: config s = {s!r} is out of range")
    if config.get("dtype") not in DTYPES:
        raise DDSEError(
            f"{path}: config dtype {config.get('dtype')!r} is not one of {', '.join(DTYPES)}"
        )
    _check_data_config(config, path)
    return config


def _check_data_config(config, path):
    """What the model knows of its data (absent in MNIST checkpoints of earlier versions)."""
    d = config.get("inputs", config["n"])
    if not isinstance(d, int) or not config["n"] <= d <= MAX_SIZE:
        raise DDSEError(f"{path}: config inputs = {d!r} is out of range")
    shape = config.get("input_shape", [d] if d != 784 else [28, 28])
    if (
        not isinstance(shape, list)
        or len(shape) not in (1, 2)
        or not all(isinstance(x, int) and x >= 1 for x in shape)
        or int(np.prod(shape)) != d
    ):
        raise DDSEError(f"{path}: config input_shape = {shape!r} does not hold {d} inputs")
    if config.get("input_divisor", 255.0) not in (1.0, 255.0):
        raise DDSEError(
            f"{path}: config input_divisor = {config['input_divisor']!r} is not 1 or 255"
        )
    names = config.get("class_names", list(range(config["classes"])))
    if (
        not isinstance(names, list)
        or len(names) != config["classes"]
        or len(set(map(repr, names))) != len(names)
        or not all(isinstance(x, (int, float, str, bool)) for x in names)
    ):
        raise DDSEError(f"{path}: config class_names do not name {config['classes']} classes")


def _read_dataset(item, shape, what, path, kind="f"):
    """Read an HDF5 dataset after checking it is one, of ``shape`` and numeric kind ``kind``."""
    if not isinstance(item, h5py.Dataset) or item.shape != tuple(shape):
        found = item.shape if isinstance(item, h5py.Dataset) else "a group"
        raise DDSEError(f"{path}: {what} has shape {found}, expected {tuple(shape)}")
    if item.dtype.kind not in kind:
        raise DDSEError(f"{path}: {what} has type {item.dtype}, expected a number")
    return item[()]


def _read_sparse(group, name, shape, s, path):
    axis = group.attrs["axis"]
    if axis not in ("row", "col"):
        raise DDSEError(f"{path}: sparse parameter {name} has unknown axis {axis!r}")
    line_length = shape[1] if axis == "row" else shape[0]
    lines = shape[0] if axis == "row" else shape[1]
    values = _read_dataset(group["values"], (lines, s), f"sparse parameter {name}: values", path)
    mask = _read_dataset(
        group["mask"], (lines, -(-line_length // 8)), f"sparse parameter {name}: mask", path, "u"
    )
    try:
        return from_sparse(mask, values, shape, axis)
    except ValueError:
        raise DDSEError(f"{path}: sparse parameter {name}: bitmap and values disagree") from None
