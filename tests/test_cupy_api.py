"""The CuPy code checked against the real CuPy, without a GPU: wherever ``import cupy`` works
(the cupy extra installs and imports on a machine without one; only using it fails), every name
the code uses on the cupy backend exists there and takes the keywords the code passes.

What the code uses comes from two places: the strict stand-in records every attribute of its
array module and of its ``ndimage`` (cupyx.scipy.ndimage's place) that a training run of every
model with every augmentation, an evaluation and the dropout masks touch, with the keyword names
of each call; and the few places that name CuPy itself (``ddse_np/backend.py``: ``_cupy...``, and
``backend.sparse.NAME`` anywhere) are read from the source.
"""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import strict_backend
from conftest import make_backend

cupy = pytest.importorskip("cupy")
cupyx_ndimage = pytest.importorskip("cupyx.scipy.ndimage")
cupyx_sparse = pytest.importorskip("cupyx.scipy.sparse")

PACKAGE = Path(__file__).resolve().parent.parent / "ddse_np"
UFUNC_KEYWORDS = {"out", "dtype", "casting"}  # what a cupy ufunc call takes by keyword
AUGMENT_ALL = dict(
    aug_noise=0.05, aug_blur=0.5, aug_flip=0.5, aug_rotate=10, aug_scale=0.1, aug_elastic=8
)


def real(path: str):
    """The real module at a recorded path: '' is cupy, 'ndimage' cupyx.scipy.ndimage, 'random'
    cupy.random."""
    if path == "ndimage":
        return cupyx_ndimage
    if path == "ndarray":
        return cupy.ndarray
    module = cupy
    for part in filter(None, path.split(".")):
        module = getattr(module, part)
    return module


def refused_keywords(func, keywords) -> set:
    """The keywords in ``keywords`` that ``func`` does not take (empty when it takes them all)."""
    if isinstance(func, cupy.ufunc):
        return set(keywords) - UFUNC_KEYWORDS
    if "*" in documented_keywords_or_empty(func):
        return set()
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set(keywords) - documented_keywords(func)
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return set()
    return set(keywords) - {
        p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def documented_keywords_or_empty(func) -> set:
    try:
        inspect.signature(func)
        return set()
    except (TypeError, ValueError):
        return documented_keywords(func) if "(" in (func.__doc__ or "").split("\n")[0] else set()


def documented_keywords(func) -> set:
    """The parameter names of a compiled function (cupy.ndarray's methods) from the signature its
    docstring starts with, e.g.
    ``_ndarray_base.astype(self, dtype, order='K', copy=True) -> ...``."""
    first = (func.__doc__ or "").strip().split("\n")[0]
    if "(" not in first or ")" not in first:
        pytest.fail(f"no signature to check keywords against for {func!r}")
    inside = first[first.index("(") + 1 : first.rindex(")")]
    # "int axis=-1" (a Cython type before the name) names axis
    names = {
        part.split("=")[0].split(":")[0].split()[-1].lstrip("*")
        for part in inside.split(",")
        if part.strip()
    }
    if any(part.strip().startswith("**") for part in inside.split(",")):
        return {"*"} | names  # takes any keyword
    return names


@pytest.fixture(scope="module")
def used(mnist_small):
    """Every (path, name, keywords) the strict stand-in saw in a run of each model with every
    augmentation."""
    from ddse_np.nn.evaluate import evaluate
    from ddse_np.nn.models import MODELS
    from ddse_np.training.run import train
    from ddse_np.training.trainer import TrainConfig

    strict_backend.USED = seen = set()
    try:
        strict = make_backend("strict", "float32")
        for name in MODELS:
            model, _ = train(
                mnist_small,
                TrainConfig(
                    model=name, m=16, k=1, epochs=1, val_size=300, batch_size=200, **AUGMENT_ALL
                ),
                backend=strict,
            )
            evaluate(
                model,
                model.preprocess(mnist_small.images[:100]),
                strict.asarray(mnist_small.labels[:100], dtype=np.int64),
            )
        strict.uniform_source(0)((2, 3))
    finally:
        strict_backend.USED = None
    return seen


def test_the_run_recorded_what_the_cupy_backend_uses(used):
    names = {(path, name) for path, name, _ in used}
    assert {
        ("", "maximum"),
        ("", "asarray"),
        ("ndimage", "map_coordinates"),
        ("ndimage", "gaussian_filter"),
    } <= names
    assert {("ndarray", "astype"), ("ndarray", "T")} <= names  # array methods and attributes too


def test_every_name_used_on_the_device_exists_in_cupy_and_takes_the_keywords_passed(used):
    missing, refused = [], []
    for path, name, keywords in sorted(used, key=lambda u: (u[0], u[1], sorted(u[2] or ()))):
        module = real(path)
        if not hasattr(module, name):
            missing.append(f"{module.__name__}.{name}")
        elif keywords:
            bad = refused_keywords(getattr(module, name), keywords)
            if bad:
                refused.append(f"{module.__name__}.{name}({', '.join(sorted(bad))}=...)")
    assert not missing, f"not in the real CuPy: {missing}"
    assert not refused, f"keywords the real CuPy does not take: {refused}"


def cupy_names_in_source():
    """(module, attribute chain, keywords) for each `_cupy.A.B(...)` in backend.py and each
    `X.sparse.NAME` in the package: the uses the strict stand-in does not see."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        calls = {id(node.func): node for node in ast.walk(tree) if isinstance(node, ast.Call)}
        inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or id(node) in inner:  # whole chains only
                continue
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            keywords = (
                {k.arg for k in calls[id(node)].keywords if k.arg} if id(node) in calls else set()
            )
            if isinstance(value, ast.Name) and value.id == "_cupy":
                found.append((cupy, chain, keywords))
            elif "sparse" in chain[:-1] and chain[-1] != "sparse":
                found.append((cupyx_sparse, chain[chain.index("sparse") + 1 :], keywords))
    return found


def test_the_names_the_source_gives_cupy_exist_and_take_their_keywords():
    uses = cupy_names_in_source()
    assert any(chain == ["cuda", "runtime", "getDeviceCount"] for _, chain, _ in uses)
    assert any(module is cupyx_sparse and chain == ["csr_matrix"] for module, chain, _ in uses)
    for module, chain, keywords in uses:
        target = module
        for part in chain:
            assert hasattr(target, part), (
                f"{module.__name__}.{'.'.join(chain)} is not in the real CuPy"
            )
            target = getattr(target, part)
        if keywords and callable(target):
            assert not refused_keywords(target, keywords), (chain, keywords)
    # what is done with the objects those return: random draws of a dtype, products with a CSR
    # matrix
    # the class: no GPU needed
    assert not refused_keywords(cupy.random.RandomState.random_sample, {"dtype"})
    assert hasattr(cupyx_sparse.csr_matrix, "tocsr") and hasattr(
        cupyx_sparse.csr_matrix, "__matmul__"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--out", "{tmp}/a.h5"],
        ["eval", "{ckpt}"],
        ["sweep", "depth", "--values", "1", "--methods", "fc", "--out", "{tmp}/s"],
    ],
)
def test_with_cupy_and_no_gpu_every_backend_option_ends_in_one_line(tmp_path, trained, command):
    from ddse_np.backend import gpu_available

    from clitools import one_line_error, run

    if gpu_available():
        pytest.skip("a GPU is visible: the cupy backend runs")
    args = [a.format(tmp=tmp_path, ckpt=trained[0]) for a in command]
    line = one_line_error(run(*args, "--backend", "cupy"), 1)
    assert line == "error: backend 'cupy' needs a CUDA GPU, and none is visible"
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "s").exists()
