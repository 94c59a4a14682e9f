"""Backend layer: only backend.py imports cupy, and compute code survives a strict device array."""

import ast
from pathlib import Path

import numpy as np
import pytest

from ddse_np.backend import Backend, array_module, gpu_available, to_host
from ddse_np.errors import DDSEError
from ddse_np.nn.evaluate import evaluate
from ddse_np.nn.models import DDSE
from ddse_np.nn.sparsity import clip_thresholds, project_params
from ddse_np.training.run import train
from ddse_np.training.trainer import TrainConfig

from conftest import make_backend
from strict_backend import STRICT, StrictArray

PACKAGE = Path(__file__).resolve().parent.parent / "ddse_np"


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


def test_only_the_backend_module_imports_cupy():
    offenders = [
        p.name
        for p in PACKAGE.rglob("*.py")
        if p.name != "backend.py" and "cupy" in set(imported_modules(p))
    ]
    assert offenders == []
    assert "cupy" in set(imported_modules(PACKAGE / "backend.py"))


@pytest.mark.parametrize("module", ["nn/layers.py", "nn/models/ddse.py", "training/optim.py"])
def test_compute_modules_do_not_import_numpy(module):
    assert "numpy" not in set(imported_modules(PACKAGE / module))


def test_strict_array_catches_what_breaks_cupy():
    x = STRICT.ones(3)
    assert isinstance(x, StrictArray) and array_module(x) is STRICT
    with pytest.raises(TypeError, match="host numpy array"):
        x + np.ones(3)
    with pytest.raises(TypeError, match="numpy.sum"):
        np.sum(x)
    with pytest.raises(TypeError, match="host numpy array"):
        STRICT.maximum(x, np.zeros(3))
    assert isinstance(x * 2 + x, StrictArray)
    assert type(to_host(x)) is np.ndarray


def test_cupy_without_gpu_is_one_clear_error():
    if gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DDSEError, match="cupy"):
        Backend("cupy")


def test_unknown_backend_and_dtype():
    with pytest.raises(DDSEError, match="unknown backend"):
        Backend("jax")
    with pytest.raises(DDSEError, match="unknown dtype"):
        Backend("numpy", "float16")


def test_asarray_copies():
    host = np.ones(3)
    dev = Backend("numpy").asarray(host)
    dev += 1
    assert host[0] == 1.0 and dev.dtype == np.float32


def test_model_math_on_the_strict_backend_equals_numpy(rng):
    strict = make_backend("strict")
    a = DDSE.create(12, 16, 2, 4, seed=0, dtype="float64", theta_init=0.01)
    b = DDSE.create(12, 16, 2, 4, seed=0, backend=strict, theta_init=0.01)
    X, y = rng.standard_normal((5, 12)), rng.integers(0, 10, 5)
    loss_a, grads_a = a.loss_and_grads(X, y)
    loss_b, grads_b = b.loss_and_grads(strict.asarray(X), strict.asarray(y, dtype=np.int64))
    assert loss_a == loss_b
    for name in grads_a:
        assert isinstance(grads_b[name], StrictArray)
        assert np.array_equal(grads_a[name], to_host(grads_b[name]))
    project_params(b.params, b.constraints, b.s)
    clip_thresholds(b.params)
    assert isinstance(b.encode(strict.asarray(X)), StrictArray)


def test_training_and_evaluation_on_the_strict_backend(mnist_small, backend_name):
    config = TrainConfig(m=16, k=2, epochs=1, val_size=300, batch_size=100, dtype="float64", seed=2)
    reference, _ = train(mnist_small, config, backend=make_backend(backend_name))
    strict_model, _ = train(mnist_small, config, backend=make_backend("strict"))
    for name in reference.params:
        assert np.allclose(
            to_host(reference.params[name]), to_host(strict_model.params[name]), atol=1e-10
        )
    X = strict_model.preprocess(mnist_small.images[:200])
    result = evaluate(
        strict_model, X, make_backend("strict").asarray(mnist_small.labels[:200], np.int64)
    )
    assert 0 <= result["error"] <= 100 and len(result["per_class_error"]) == 10


def test_asarray_makes_c_ordered_copies_of_transposed_views():
    host = np.arange(6.0).reshape(2, 3).T
    dev = Backend("numpy").asarray(host)
    assert dev.flags["C_CONTIGUOUS"] and np.array_equal(dev, host)
    model = DDSE.create(12, 16, 2, 4)
    assert all(v.flags["C_CONTIGUOUS"] for v in model.params.values())
