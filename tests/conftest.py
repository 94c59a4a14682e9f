import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ddse_np.backend import Backend, gpu_available  # noqa: E402

BACKENDS = ["numpy"] + (["cupy"] if gpu_available() else [])


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    """Every backend available here: numpy always, cupy only where a GPU is present."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def make_backend(name, dtype="float64"):
    if name == "strict":
        from strict_backend import STRICT

        return Backend("strict", dtype, xp=STRICT)
    return Backend(name, dtype)


def write_mnist_dir(directory, n_train=300, n_test=100, seed=0, gz=True, labels_max=9):
    """A small directory in MNIST's format (random images, balanced labels)."""
    import gzip
    import struct

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)

    def idx(array):
        head = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
            f">{array.ndim}I", *array.shape
        )
        return head + array.astype(np.uint8).tobytes()

    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(count, 28, 28))
        labels = np.arange(count) % (labels_max + 1)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            name = directory / f"{prefix}-{kind}"
            payload = idx(array)
            if gz:
                (directory / (name.name + ".gz")).write_bytes(gzip.compress(payload))
            else:
                name.write_bytes(payload)
    return directory


@pytest.fixture
def tiny_mnist(tmp_path):
    return write_mnist_dir(tmp_path / "mnist")


@pytest.fixture(scope="session")
def mnist_small():
    """The first 1,500 bundled training images (stratification happens inside train())."""
    from ddse_np.data.mnist import BUNDLED_MNIST, load_split

    return load_split(BUNDLED_MNIST, "train").take(slice(0, 1500))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch on 2,400 bundled images (--train-fraction 0.04 of 60,000 minus validation)."""
    from clitools import SMALL, run

    path = tmp_path_factory.mktemp("cli") / "small.h5"
    result = run("train", *SMALL, "--out", path, "--json")
    assert result.exit_code == 0, result.output
    return path, json.loads(result.output)


def fresh(name, **options):
    """MODELS[name].create with the options its signature takes (the dense baselines take no s,
    init or theta_init: they have none)."""
    import inspect

    from ddse_np.nn.models import MODELS

    cls = MODELS[name]
    taken = inspect.signature(cls.create).parameters
    return cls.create(**{key: value for key, value in options.items() if key in taken})


def reseal(path):
    """Seal a checkpoint edited with h5py again, as ddse-np would have written it (a file edited by
    hand no longer matches its checksum, and is refused as damaged)."""
    import hashlib

    from ddse_np.files.checkpoint import SEAL, USER_BLOCK

    raw = bytearray(Path(path).read_bytes())
    seal = SEAL + hashlib.sha256(raw[USER_BLOCK:]).hexdigest().encode()
    raw[: len(seal)] = seal
    Path(path).write_bytes(bytes(raw))
