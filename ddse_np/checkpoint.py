"""HDF5 checkpoints (h5py), written atomically, constrained matrices stored sparse.

Layout (format version 1)::

    /                 attrs: format = "ddse-np checkpoint", format_version, config (JSON)
    /preprocessing    mean (n), basis (n x n)
    /params/NAME      a dataset for dense parameters (theta.i, V, c, ...)
    /params/NAME/     a group for constrained ones: indices (L x s, uint16), values (L x s),
                      attrs shape, axis ('row': L = rows; 'col': L = columns)
    /history/FIELD    one dataset per history column (epoch, train_loss, ...)
    /train            attrs: training config (JSON) and schedule state (JSON)

Saving converts every array to the host first, writes ``PATH.tmp-XXXX`` in the
same directory, flushes it to disk and renames it over ``PATH``: a crash
leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from .backend import Backend, to_host
from .errors import DDSEError
from .models import MODELS
from .sparsity import from_sparse, to_sparse

FORMAT = "ddse-np checkpoint"
FORMAT_VERSION = 1


def check_target(path, overwrite: bool = True) -> Path:
    """Refuse, in one line, a checkpoint path that cannot or may not be written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise DDSEError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise DDSEError(f"cannot write {path}: it is a directory")
    if path.exists() and not overwrite:
        raise DDSEError(f"{path} exists: pass --overwrite to replace it, or choose another --out")
    return path


def save(path, model, history: dict | None = None, train_state: dict | None = None):
    """Write ``model`` (projected already), its history and training state to ``path`` atomically."""
    path = check_target(path)
    directory = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=directory)
    except OSError as exc:
        raise DDSEError(f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        with h5py.File(tmp, "w") as f:
            _write(f, model, history or {}, train_state or {})
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DDSEError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def _write(f, model, history, train_state):
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["config"] = json.dumps(model.config)
    pre = f.create_group("preprocessing")
    pre.create_dataset("mean", data=to_host(model.mean))
    pre.create_dataset("basis", data=to_host(model.basis))
    params = f.create_group("params")
    constraints = model.constraints
    for name, value in model.params.items():
        host = to_host(value)
        if name in constraints:
            indices, values = to_sparse(host, model.s, constraints[name])
            g = params.create_group(name)
            g.create_dataset("indices", data=indices)
            g.create_dataset("values", data=values)
            g.attrs["shape"] = host.shape
            g.attrs["axis"] = constraints[name]
        else:
            params.create_dataset(name, data=host)
    hist = f.create_group("history")
    for name, values in history.items():
        hist.create_dataset(name, data=np.asarray(values, dtype=np.float64))
    train = f.create_group("train")
    for name, value in train_state.items():
        train.attrs[name] = json.dumps(value)


def load(path, backend: Backend | str = "numpy", dtype: str | None = None):
    """Read a checkpoint.

    Returns (model, extras) where extras = dict(history=..., train=..., format_version=...).
    ``backend`` is a name or a :class:`Backend`; ``dtype`` defaults to the saved one.
    Every problem with the file ends in a one-line :class:`DDSEError`.
    """
    path = Path(path)
    if not path.is_file():
        raise DDSEError(f"checkpoint {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            return _read(f, path, backend, dtype)
    except DDSEError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise DDSEError(f"{path}: not a readable ddse checkpoint ({_first_line(exc)})") from None


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read(f, path, backend, dtype):
    if f.attrs.get("format") != FORMAT:
        raise DDSEError(f"{path}: not a ddse checkpoint")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise DDSEError(f"{path}: checkpoint format {version} is newer than this ddse-np "
                        f"reads ({FORMAT_VERSION}); upgrade ddse-np")
    if version < 1:
        raise DDSEError(f"{path}: checkpoint has no valid format version")
    config = json.loads(f.attrs["config"])
    cls = MODELS.get(config.get("model"))
    if cls is None:
        raise DDSEError(f"{path}: unknown model {config.get('model')!r}")
    if not isinstance(backend, Backend):
        backend = Backend(backend, dtype or config["dtype"])
    expected = cls.param_shapes(config)
    stored = f["params"]
    if set(stored.keys()) != set(expected):
        raise DDSEError(f"{path}: parameters {sorted(stored.keys())} do not match a "
                        f"{config['model']} model ({sorted(expected)})")
    params = {}
    for name, shape in expected.items():
        item = stored[name]
        if isinstance(item, h5py.Group):
            host = _read_sparse(item, name, shape, config["s"], path)
        else:
            host = item[()]
        if host.shape != shape:
            raise DDSEError(f"{path}: parameter {name} has shape {host.shape}, expected {shape}")
        if not np.all(np.isfinite(host)):
            raise DDSEError(f"{path}: parameter {name} holds NaN or infinity")
        params[name] = backend.asarray(host)
    model = cls(params, config, backend)
    mean, basis = f["preprocessing/mean"][()], f["preprocessing/basis"][()]
    n = config["n"]
    if mean.shape != (n,) or basis.shape != (n, n):
        raise DDSEError(f"{path}: preprocessing shapes {mean.shape}, {basis.shape} do not match n = {n}")
    model.set_pca(mean, basis)
    history = {name: f["history"][name][()].tolist() for name in f["history"]} if "history" in f else {}
    train = {name: json.loads(v) for name, v in f["train"].attrs.items()} if "train" in f else {}
    return model, dict(history=history, train=train, format_version=version)


def _read_sparse(group, name, shape, s, path):
    indices, values = group["indices"][()], group["values"][()]
    axis = group.attrs["axis"]
    if axis not in ("row", "col"):
        raise DDSEError(f"{path}: sparse parameter {name} has unknown axis {axis!r}")
    line_length = shape[1] if axis == "row" else shape[0]
    lines = shape[0] if axis == "row" else shape[1]
    if indices.shape != (lines, s) or values.shape != (lines, s):
        raise DDSEError(f"{path}: sparse parameter {name} has {indices.shape} indices, expected {(lines, s)}")
    if indices.size and int(indices.max()) >= line_length:
        raise DDSEError(f"{path}: sparse parameter {name} has an index out of range")
    return from_sparse(indices, values, shape, axis)
