"""The benchmark script runs on tiny shapes and prints its table (how fast is measured, not
asserted)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_and_prints(bench, capsys):
    result = bench.main(["--shapes", "tiny", "--rounds", "1", "--steps", "15"])
    out = capsys.readouterr().out
    assert "ddse_np" in out and "GEMM ceiling" in out and "kernel" in out
    assert set(result["blas"]) >= {"library", "overrides"}
    row = result["rows"][0]
    assert row["shape"] == "tiny" and row["ddse_np"]["samples_per_s"] > 0
    assert 0 < row["ddse_np"]["fraction_of_ceiling"]


def test_epoch_benchmark_runs_and_prints(capsys):
    spec = importlib.util.spec_from_file_location("bench_epoch", SCRIPT.parent / "bench_epoch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--rounds", "1", "--train-size", "600", "--m", "24"])
    out = capsys.readouterr().out
    assert "aug, prefetch" in out and "kernel" in out
    assert [row["case"] for row in result["cases"]] == ["none", "aug, prefetch", "aug, no prefetch"]
    for row in result["cases"]:
        assert row["steps"] == 5 and 0 < row["training_s"] <= row["epoch_s"] and row["step_ms"] > 0


def test_flop_count_matches_the_gemm_list(bench):
    n, m, k, batch = 784, 1024, 2, 128
    gemms = sum(2 * r * i * c * count for r, i, c, count in bench.gemm_shapes(n, m, k, batch))
    # the classifier's three
    assert bench.step_flops(n, m, k, batch) - gemms == 3 * 2 * batch * m * 10


def test_torch_network_matches_ddse_np(bench):
    """The PyTorch rebuild computes the same loss and gradients (so the benchmark compares like
    with like)."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from ddse_np.nn.models import DDSE

    n, m, k, batch, s = 20, 24, 2, 8, 5
    theirs = bench.DDSETorchStep(n, m, k, batch, s, "cpu", seed=3)
    ours = DDSE.create(n, m, k, s, seed=3, dtype="float32")
    X = theirs.X.numpy()
    y = theirs.y.numpy()
    loss, grads = ours.loss_and_grads(X, y)
    p = theirs.p
    U = theirs.X @ p["W1"].T
    Z = theirs.shrink(U, p["theta.0"])
    for i in range(1, k + 1):
        Z = theirs.shrink(U + Z - (Z @ p[f"W2.{i}"].T) @ p[f"W3.{i}"].T, p[f"theta.{i}"])
    torch_loss = torch.nn.functional.cross_entropy(Z @ p["V"].T + p["c"], theirs.y)
    torch_loss.backward()
    assert np.isclose(loss, torch_loss.item(), rtol=1e-5)
    for name, value in p.items():
        assert np.allclose(grads[name], value.grad.numpy(), rtol=1e-4, atol=1e-6), name


def test_a_kernel_override_is_reported_and_can_be_refused(bench, monkeypatch, capsys):
    import platform_info

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    info = platform_info.check_native()
    assert info["overrides"] == {"OPENBLAS_CORETYPE": "Haswell"}
    assert "OPENBLAS_CORETYPE=Haswell is set" in capsys.readouterr().err
    assert "OVERRIDDEN" in platform_info.describe(info)
    with pytest.raises(SystemExit, match="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE"):
        platform_info.check_native(require=True)
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    assert platform_info.check_native(require=True)["overrides"] == {}


@pytest.mark.parametrize("part", ["step", "batch"])
def test_ab_benchmark_runs_against_a_renamed_copy(tmp_path, capsys, part):
    import shutil

    shutil.copytree(SCRIPT.parent.parent / "ddse_np", tmp_path / "ddse_np_old")
    spec = importlib.util.spec_from_file_location("ab_step", SCRIPT.parent / "ab_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from threadpoolctl import threadpool_info

    threads = {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}
    result = module.main(
        [
            "--old",
            str(tmp_path),
            "--part",
            part,
            "--rounds",
            "2",
            "--steps",
            "2",
            "--train-size",
            "600",
            "--threads",
            "1",
        ]
    )
    after = {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}
    assert {path: after[path] for path in threads} == threads  # the suite's BLAS threads restored
    out = capsys.readouterr().out
    assert f"ms/{part}" in out and "old / new" in out and "kernel" in out
    assert set(result) == {"new", "old"} and all(ms > 0 for ms in result.values())


def test_augment_parts_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_augment", SCRIPT.parent / "bench_augment.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--rounds", "2"])
    out = capsys.readouterr().out
    assert "gaussian_filter" in out and "kernel" in out
    assert "G @ field @ G.T" in result["ms"] and all(ms > 0 for ms in result["ms"].values())
