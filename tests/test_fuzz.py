"""Property-based tests: damaged IDX files and checkpoints end in DDSEError, never another error."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddse_np.data.idx import read_idx
from ddse_np.errors import DDSEError
from ddse_np.files.checkpoint import load, save
from ddse_np.nn.models import DDSE

# no deadline and no too_slow check: hypothesis would judge the machine's speed, not the code
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same draws on every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GOOD_IDX = struct.pack(">BBBB3I", 0, 0, 8, 3, 4, 28, 28) + bytes(range(256)) * 12 + bytes(64)


def read_or_refuse(path, ndim=None):
    try:
        out = read_idx(path, ndim)
    except DDSEError as exc:
        assert "\n" not in str(exc)
        return None
    assert out.dtype == np.uint8 and out.size == np.prod(out.shape)
    return out


@FUZZ
@given(data=st.binary(max_size=600), gz=st.booleans())
def test_idx_random_bytes(tmp_path, data, gz):
    path = tmp_path / "f"
    path.write_bytes(gzip.compress(data) if gz else data)
    read_or_refuse(path, 3)


@FUZZ
@given(
    cut=st.integers(0, len(GOOD_IDX)),
    flips=st.lists(st.tuples(st.integers(0, len(GOOD_IDX) - 1), st.integers(0, 7)), max_size=4),
    gz=st.booleans(),
)
def test_idx_truncated_and_bit_flipped(tmp_path, cut, flips, gz):
    data = bytearray(GOOD_IDX)
    for position, bit in flips:
        data[position] ^= 1 << bit
    data = bytes(data[:cut])
    path = tmp_path / "f"
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_or_refuse(path, 3)
    if out is not None:
        assert out.nbytes == len(data) - 16


@FUZZ
@given(dims=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4))
def test_idx_oversized_headers_do_not_allocate(tmp_path, dims):
    path = tmp_path / "f"
    path.write_bytes(struct.pack(f">BBBB{len(dims)}I", 0, 0, 8, len(dims), *dims) + bytes(100))
    read_or_refuse(path)


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    model = DDSE.create(12, 16, 1, 3, seed=1)
    model.set_pca(np.zeros(12), np.eye(12))
    path = tmp_path_factory.mktemp("ck") / "small.h5"
    save(
        path,
        model,
        dict(epoch=[1]),
        dict(progress=dict(epoch=1)),
        {"velocity/V": np.zeros((10, 16))},
    )
    return path.read_bytes()


def load_or_refuse(path):
    try:
        load(path)
    except DDSEError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(data=st.data())
def test_checkpoint_bit_flips_and_truncation(tmp_path, checkpoint_bytes, data):
    raw = bytearray(checkpoint_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / "c.h5"
    path.write_bytes(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))
    load_or_refuse(path)


@FUZZ
@given(data=st.binary(max_size=4000))
def test_checkpoint_random_bytes(tmp_path, data):
    path = tmp_path / "c.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + data)
    with pytest.raises(DDSEError):
        load(path)
