"""A stand-in for CuPy that runs on the CPU and is stricter than CuPy.

``StrictArray`` is a numpy array that behaves like a device array:

* a numpy function called on it (``np.sum(x)``, ``np.dot(x, y)``) raises:
  compute code must use the array's own module (``array_module(x)``);
* arithmetic that mixes it with a plain (host) numpy array raises, as
  ``cupy_array + numpy_array`` does;
* ``STRICT`` (its module) refuses host arrays too, except in ``array`` and
  ``asarray``, the functions that move data to the device.

Code that passes the test suite on this backend does not call numpy on
device arrays and does not mix host and device arrays, the two ways plain
NumPy code breaks on CuPy.
"""

from __future__ import annotations

import types

import numpy as np
import scipy.ndimage

_TRANSFER = {"array", "asarray"}


def _is_host(x):
    return isinstance(x, np.ndarray) and not isinstance(x, StrictArray) and x.ndim > 0


def _unwrap(x):
    if isinstance(x, StrictArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray) and not isinstance(x, StrictArray):
        return x.view(StrictArray)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    return x


def _flatten(args):
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from _flatten(a)
        else:
            yield a


class StrictArray(np.ndarray):
    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if USED is None or name.startswith("_") or name == "to_host":
            return attr
        if not callable(attr):
            USED.add(("ndarray", name, None))
            return attr

        def method(*args, **kwargs):  # an array method, recorded with its keywords (path "ndarray")
            USED.add(("ndarray", name, frozenset(kwargs)))
            return attr(*args, **kwargs)

        return method

    def __array_namespace__(self, api_version=None):
        return STRICT

    def to_host(self):
        return np.array(self.view(np.ndarray))

    def __repr__(self):
        return "StrictArray(" + repr(self.view(np.ndarray)) + ")"

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if any(_is_host(x) for x in inputs) or (out and any(_is_host(o) for o in out)):
            raise TypeError(f"{ufunc.__name__}: a host numpy array mixed with a device array")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} called on a device array: use its own array module")


# When a set: every use of the stand-in's modules is added to it as (module path, name, keywords):
# path "" for the array module (cupy's place), "ndimage" for cupyx.scipy.ndimage, "random" for
# xp.random, ..., "ndarray" for a method or attribute of an array (cupy.ndarray's); keywords is the
# frozenset of keyword names of a call, None for a plain attribute.
# tests/test_cupy_api.py checks every entry against the real CuPy.
USED: set | None = None


class _StrictNamespace:
    """numpy's namespace, returning StrictArrays and refusing host arrays."""

    def __init__(self, module, path=""):
        self._module = module
        self._path = path

    def __getattr__(self, name):
        if name == "ndimage" and self._module is np:
            return _StrictNamespace(scipy.ndimage, "ndimage")
        attr = getattr(self._module, name)
        if isinstance(attr, types.ModuleType):
            return _StrictNamespace(attr, f"{self._path}.{name}".lstrip("."))
        if not callable(attr) or isinstance(attr, type):
            if USED is not None:
                USED.add((self._path, name, None))
            return attr

        def call(*args, **kwargs):
            if USED is not None:
                USED.add((self._path, name, frozenset(kwargs)))
            if name not in _TRANSFER and any(
                _is_host(a) for a in _flatten(list(args) + list(kwargs.values()))
            ):
                raise TypeError(f"xp.{name}: got a host numpy array; move it to the device first")
            return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

        return call


STRICT = _StrictNamespace(np)
