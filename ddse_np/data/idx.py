"""Reader for the IDX files MNIST ships in (raw or gzipped).

Format: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions d, then d big-endian uint32 sizes, then the data in C order.
Every malformed file ends in :class:`DDSEError` with one line that names it;
the declared size is checked against the bytes actually present before any
large allocation.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from ..errors import DDSEError

_UBYTE = 0x08
MAX_BYTES = 1 << 31  # refuse headers that declare more than 2 GiB of data


def _open(path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes.

    Parameters
    ----------
    path : file path, raw or gzip-compressed
    ndim : expected number of dimensions (3 for images, 1 for labels), or None

    Returns
    -------
    uint8 array of the declared shape
    """
    name = os.path.basename(str(path))
    try:
        with _open(path) as fh:
            header = fh.read(4)
            if len(header) < 4 or header[:2] != b"\x00\x00":
                raise DDSEError(f"{name}: not an IDX file (bad magic number)")
            code, dims = header[2], header[3]
            if code != _UBYTE:
                raise DDSEError(f"{name}: IDX type code 0x{code:02x} is not unsigned byte (0x08)")
            if ndim is not None and dims != ndim:
                raise DDSEError(f"{name}: has {dims} dimensions, expected {ndim}")
            if dims == 0:
                raise DDSEError(f"{name}: IDX file declares no dimensions")
            raw = fh.read(4 * dims)
            if len(raw) < 4 * dims:
                raise DDSEError(f"{name}: truncated IDX header")
            shape = struct.unpack(f">{dims}I", raw)
            nbytes = math.prod(shape)  # Python ints: no overflow
            if nbytes > MAX_BYTES:
                raise DDSEError(
                    f"{name}: header declares {nbytes} bytes, more than this reader accepts"
                )
            data = fh.read(nbytes + 1)
    except DDSEError:
        raise
    except FileNotFoundError:
        raise DDSEError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DDSEError(f"{name}: cannot read ({exc})") from None
    if len(data) != nbytes:
        what = "truncated" if len(data) < nbytes else "longer than its header declares"
        raise DDSEError(f"{name}: {what} (header shape {shape})")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)
