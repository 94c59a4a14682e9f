"""Checkpoints: round trip with sparse storage, a failed save, refusal of foreign or corrupt files
(writing files whole or not at all, and refusing unwritable targets: test_atomic_writes.py)."""

import json

import h5py
import numpy as np
import pytest

from ddse_np.errors import DDSEError
from ddse_np.files.checkpoint import FORMAT_VERSION, load, save
from ddse_np.nn.models import DDSE
from ddse_np.nn.sparsity import project_params

n, m, k, s = 10, 14, 2, 3


@pytest.fixture
def model(rng):
    model = DDSE.create(n, m, k, s, seed=3, dtype="float32", init="random", theta_init=0.1)
    for value in model.params.values():
        value += rng.standard_normal(value.shape).astype(np.float32)  # dense, as after SGD steps
    project_params(model.params, model.constraints, s)
    model.set_pca(rng.random(n), np.linalg.qr(rng.standard_normal((n, n)))[0])
    return model


def test_round_trip_is_exact_and_sparse(tmp_path, model):
    path = tmp_path / "c.h5"
    history = dict(epoch=[1, 2], val_error=[5.0, 4.0])
    save(path, model, history, dict(config={"lr": 0.01}))
    loaded, extras = load(path)
    assert loaded.config == model.config
    for name, value in model.params.items():
        assert loaded.params[name].dtype == value.dtype
        assert np.array_equal(loaded.params[name], value), name
    assert np.array_equal(loaded.mean, model.mean) and np.array_equal(loaded.basis, model.basis)
    assert extras["history"] == dict(epoch=[1.0, 2.0], val_error=[5.0, 4.0])
    assert extras["train"] == dict(config={"lr": 0.01})
    with h5py.File(path) as f:
        assert f.attrs["format_version"] == FORMAT_VERSION
        for name, axis in model.constraints.items():
            group = f["params"][name]
            lines = m  # W1, W3i: m rows; W2i: m columns
            assert group["values"].shape == (lines, s)
            assert group["mask"].shape == (lines, -(-n // 8))  # every constrained line has length n
            assert group.attrs["axis"] == axis
        assert isinstance(f["params"]["V"], h5py.Dataset)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_load_into_other_dtype(tmp_path, model):
    save(tmp_path / "c.h5", model)
    loaded, _ = load(tmp_path / "c.h5", "numpy", "float64")
    assert loaded.params["W1"].dtype == np.float64
    assert np.allclose(loaded.params["W1"], model.params["W1"])


def test_failed_save_keeps_the_previous_file(tmp_path, model, monkeypatch):
    path = tmp_path / "c.h5"
    save(path, model)
    before = path.read_bytes()
    import ddse_np.files.checkpoint as ckpt

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ckpt, "_write", broken)
    with pytest.raises(RuntimeError):
        save(path, model)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_missing_file(tmp_path):
    with pytest.raises(DDSEError, match="does not exist"):
        load(tmp_path / "nope.h5")


def test_random_bytes(tmp_path, rng):
    path = tmp_path / "junk.h5"
    path.write_bytes(rng.integers(0, 256, 5000).astype(np.uint8).tobytes())
    with pytest.raises(DDSEError, match="not a readable ddse checkpoint"):
        load(path)


def test_truncated_checkpoint(tmp_path, model):
    path = tmp_path / "c.h5"
    save(path, model)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # its checksum names it: damaged (truncated), not a lock to wait for
    with pytest.raises(DDSEError, match=r"damaged checkpoint \(.*truncated") as info:
        load(path)
    assert "locked" not in str(info.value) and "LOCKING" not in str(info.value)


def test_a_file_system_without_locks_is_named_with_its_way_out(tmp_path, model, monkeypatch):
    path = tmp_path / "c.h5"
    save(path, model)

    # what HDF5 says on a file system without flock (some NFS mounts)
    def no_locks(*args, **kwargs):
        raise OSError(
            "Unable to open file (unable to lock file, errno = 37, "
            "error message = 'No locks available')"
        )

    monkeypatch.setattr(h5py, "File", no_locks)
    with pytest.raises(
        DDSEError,
        match=r"cannot lock it for reading \(.*No locks available.*\); on a file system "
        r"without file locks, set HDF5_USE_FILE_LOCKING=FALSE$",
    ):
        load(path)


def test_foreign_hdf5_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DDSEError, match="not a ddse checkpoint"):
        load(path)


def edit(path, fn):
    """Change a saved checkpoint with h5py, then seal it again (as a ddse-np that wrote it so
    would)."""
    from conftest import reseal

    with h5py.File(path, "r+") as f:
        fn(f)
    reseal(path)


def test_newer_format_version(tmp_path, model):
    path = tmp_path / "c.h5"
    save(path, model)
    edit(path, lambda f: f.attrs.__setitem__("format_version", FORMAT_VERSION + 1))
    with pytest.raises(DDSEError, match="newer than this ddse-np reads"):
        load(path)


def test_missing_parameter(tmp_path, model):
    path = tmp_path / "c.h5"
    save(path, model)
    edit(path, lambda f: f["params"].__delitem__("V"))
    with pytest.raises(DDSEError, match="do not match"):
        load(path)


def test_sparse_bitmap_that_disagrees_with_the_values(tmp_path, model):
    path = tmp_path / "c.h5"
    save(path, model)

    def corrupt(f):
        f["params/W1/mask"][0, 0] = 0xFF

    edit(path, corrupt)
    with pytest.raises(DDSEError, match="bitmap and values disagree"):
        load(path)


def test_wrong_shape_in_config(tmp_path, model):
    path = tmp_path / "c.h5"
    save(path, model)

    def corrupt(f):
        config = json.loads(f.attrs["config"])
        config["m"] = m + 1
        f.attrs["config"] = json.dumps(config)

    edit(path, corrupt)
    with pytest.raises(DDSEError):
        load(path)


def test_python_api_load(tmp_path, model, rng):
    import ddse_np

    path = tmp_path / "c.h5"
    save(path, model)
    loaded = ddse_np.load(path, dtype="float64")
    assert loaded.params["W1"].dtype == np.float64
    X = loaded.backend.asarray(rng.standard_normal((4, n)))
    assert loaded.forward(X).shape == (4, 10)
    loss, grads = loaded.loss_and_grads(X, np.arange(4))
    assert set(grads) == set(loaded.params) and np.isfinite(loss)


def test_format_1_of_a_pre_release_is_refused_in_one_line(tmp_path, model):
    path = tmp_path / "c.h5"
    save(path, model)
    edit(path, lambda f: f.attrs.__setitem__("format_version", 1))
    with pytest.raises(
        DDSEError, match="checkpoint format 1 was written by a pre-release of ddse-np 0.1.0"
    ):
        load(path)


def test_a_damaged_checkpoint_is_refused_by_its_checksum_before_hdf5_reads_it(
    tmp_path, model, monkeypatch
):
    """The HDF5 library can loop forever on some damaged files (a fuzzed bit flip did): the seal
    is checked first, so h5py never opens a damaged checkpoint."""
    import h5py

    from ddse_np.files import checkpoint

    path = tmp_path / "c.h5"
    save(path, model)
    raw = path.read_bytes()
    assert raw.startswith(checkpoint.SEAL) and raw[512:520] == checkpoint.HDF5_SIGNATURE
    opened = []
    real = h5py.File
    monkeypatch.setattr(checkpoint.h5py, "File", lambda *a, **k: opened.append(a) or real(*a, **k))
    # the data, its end, the checksum itself
    for position in (
        600,
        len(raw) // 2,
        len(raw) - 1,
        30,
    ):
        damaged = bytearray(raw)
        damaged[position] ^= 0x10
        (tmp_path / "d.h5").write_bytes(bytes(damaged))
        with pytest.raises(DDSEError, match="damaged checkpoint"):
            load(tmp_path / "d.h5")
    (tmp_path / "t.h5").write_bytes(raw[: len(raw) - 100])  # truncated
    with pytest.raises(DDSEError, match="damaged checkpoint"):
        load(tmp_path / "t.h5")
    damaged = bytearray(raw)
    damaged[3] ^= 1  # the seal's own text
    (tmp_path / "s.h5").write_bytes(bytes(damaged))
    with pytest.raises(DDSEError, match="checksum is unreadable"):
        load(tmp_path / "s.h5")
    assert opened == []
    assert load(path)[0].config == model.config and len(opened) == 1
