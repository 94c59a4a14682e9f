"""Backend selection: the only module that imports cupy.

Compute code never imports numpy or cupy itself.  It asks an array for its
module (``xp = array_module(x)``) or is handed a :class:`Backend`, whose
``xp`` is ``numpy`` or ``cupy``.  Moving data between host and device
happens only here (:meth:`Backend.asarray`, :func:`to_host`), at the edges
of the program: after loading data, and before printing or saving.
"""

from __future__ import annotations

import numpy

from .errors import DDSEError

try:  # optional: pip install -e '.[cupy]' (or any CuPy wheel)
    import cupy as _cupy
except Exception:  # ImportError, or a CUDA library that fails to load
    _cupy = None

BACKENDS = ("numpy", "cupy")
DTYPES = ("float32", "float64")


def gpu_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


class Backend:
    """Where arrays live and which float type they use.

    Attributes
    ----------
    name : 'numpy' or 'cupy' (or any name given with a custom ``xp``)
    xp : the array module (``numpy``, ``cupy``, or a numpy-compatible stand-in)
    dtype : the float dtype of parameters and activations
    """

    def __init__(self, name: str = "numpy", dtype: str = "float32", xp=None):
        if dtype not in DTYPES:
            raise DDSEError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
        if xp is None:
            if name == "numpy":
                xp = numpy
            elif name == "cupy":
                if _cupy is None:
                    raise DDSEError(
                        "backend 'cupy' needs CuPy: pip install cupy-cuda12x (the wheel for your "
                        "CUDA; in a checkout: pip install -e '.[cupy]')"
                    )
                if not gpu_available():
                    raise DDSEError("backend 'cupy' needs a CUDA GPU, and none is visible")
                xp = _cupy
            else:
                raise DDSEError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
        self.name = name
        self.xp = xp
        self.dtype = numpy.dtype(dtype)

    def asarray(self, host_array, dtype=None):
        """A new array on this backend holding a copy of a host (numpy) array.

        ``dtype`` defaults to the backend's float dtype.  Always a C-ordered copy:
        two parameters made from one host array never share memory, and a
        transposed host view does not turn into a Fortran-ordered parameter
        (whose gradient updates would then run against the memory order).
        """
        return self.xp.array(
            host_array, dtype=self.dtype if dtype is None else dtype, copy=True, order="C"
        )

    @property
    def ndimage(self):
        """Image transforms for this backend's arrays: scipy.ndimage or cupyx.scipy.ndimage."""
        if _cupy is not None and self.xp is _cupy:
            import cupyx.scipy.ndimage

            return cupyx.scipy.ndimage
        if self.xp is numpy:
            import scipy.ndimage

            return scipy.ndimage
        return self.xp.ndimage  # a stand-in array module brings its own

    @property
    def sparse(self):
        """Sparse matrices for this backend's arrays: scipy.sparse or cupyx.scipy.sparse."""
        if _cupy is not None and self.xp is _cupy:
            import cupyx.scipy.sparse

            return cupyx.scipy.sparse
        import scipy.sparse

        return scipy.sparse

    def uniform_source(self, seed):
        """A function shape -> array of uniform [0, 1) draws on this backend (dropout masks).

        ``seed`` is an int or a sequence of ints (as numpy's ``default_rng`` takes), or
        None for fresh, unseeded entropy.
        """
        if _cupy is not None and self.xp is _cupy:
            state = _cupy.random.RandomState(
                int(numpy.random.SeedSequence(seed).generate_state(1)[0])
            )
            return lambda shape: state.random_sample(shape, dtype=self.dtype)
        rng = numpy.random.default_rng(seed)
        if self.xp is numpy:
            return lambda shape: rng.random(shape, dtype=self.dtype)
        return lambda shape: self.asarray(rng.random(shape, dtype=self.dtype))

    def __repr__(self):
        return f"Backend({self.name!r}, {self.dtype.name!r})"


def as_backend(backend: "Backend | str", dtype: str = "float32") -> Backend:
    """``backend`` itself when it is a :class:`Backend`, else ``Backend(backend, dtype)``.

    Raises DDSEError for an unknown name or dtype, or cupy without a GPU.
    """
    return backend if isinstance(backend, Backend) else Backend(backend, dtype)


def array_module(x):
    """The array module of ``x``: cupy for cupy arrays, else the array's own namespace."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    get_namespace = getattr(x, "__array_namespace__", None)
    return get_namespace() if get_namespace is not None else numpy


def to_host(x):
    """A numpy copy (or view) of any backend array; numbers pass through."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.asnumpy(x)
    host = getattr(x, "to_host", None)
    if host is not None:
        return host()
    return numpy.asarray(x)
