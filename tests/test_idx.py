"""The IDX reader on good and malformed files, raw and gzipped."""

import gzip
import struct

import numpy as np
import pytest

from ddse_np.data.idx import read_idx
from ddse_np.errors import DDSEError


def idx_bytes(array, code=0x08):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write(path, payload, gz=False):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_reads_raw_and_gzip(tmp_path, rng, gz):
    images = rng.integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    out = read_idx(write(tmp_path / "x", idx_bytes(images), gz), ndim=3)
    assert out.dtype == np.uint8 and np.array_equal(out, images)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad magic"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05\x00\x00\x00", "type code"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "expected 1"),
        (b"\x00\x00\x08\x01\x00\x00", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "longer than"),
        (b"\x00\x00\x08\x00", "expected 1"),
        (b"", "bad magic"),
    ],
)
def test_malformed_files(tmp_path, payload, message):
    with pytest.raises(DDSEError, match=message):
        read_idx(write(tmp_path / "bad", payload), ndim=1)


def test_huge_declared_size_is_refused_before_allocation(tmp_path):
    payload = b"\x00\x00\x08\x03" + struct.pack(">3I", 100000, 100000, 100000)
    with pytest.raises(DDSEError, match="more than this reader accepts"):
        read_idx(write(tmp_path / "huge", payload), ndim=3)


def test_corrupt_gzip(tmp_path, rng):
    data = gzip.compress(idx_bytes(rng.integers(0, 9, size=(100,))))
    broken = data[:20] + bytes(b ^ 0xFF for b in data[20:40]) + data[40:]
    with pytest.raises(DDSEError, match="cannot read|truncated|bad magic"):
        read_idx(write(tmp_path / "bad.gz", broken), ndim=1)


def test_missing_file(tmp_path):
    with pytest.raises(DDSEError, match="no such file"):
        read_idx(tmp_path / "absent")
