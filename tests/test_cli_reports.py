"""The command line's reports: best epoch, McNemar and compare, one-line faults, narrow terminals,
strict JSON."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ddse_np.cli import cli
from ddse_np.files.checkpoint import load

from clitools import TINY_TRAIN, one_line_error, run
from conftest import write_mnist_dir


def test_json_and_checkpoint_report_the_best_epoch(tmp_path):
    result = run(
        "train",
        "--m",
        "16",
        "--train-fraction",
        "0.03",
        "--val-size",
        "300",
        "--epochs",
        "3",
        "--quiet",
        "--json",
        "--lr",
        "0.05",
        "--out",
        tmp_path / "a.h5",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    errors = summary["history"]["val_error"]
    assert summary["kept"] == "best" and summary["best_epoch"] == int(np.argmin(errors)) + 1
    assert summary["best_val_error"] == min(errors) and summary["steps"] > 0
    progress = load(tmp_path / "a.h5")[1]["train"]["progress"]
    assert progress["best_epoch"] == summary["best_epoch"] and progress["best_val_error"] == min(
        errors
    )


def test_keep_best_without_validation_says_it_keeps_the_last(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--m",
            "16",
            "--train-fraction",
            "0.02",
            "--val-size",
            "0",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "a.h5"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "the last epoch's model is kept" in result.stderr and "last of 1 epochs" in result.stdout


def test_mcnemar_against_a_hand_computed_p_value():
    from scipy.stats import binom

    from ddse_np.nn.evaluate import mcnemar

    a = np.array([1] * 50 + [1] * 7 + [0] * 2 + [0] * 3, dtype=bool)
    b = np.array([1] * 50 + [0] * 7 + [1] * 2 + [0] * 3, dtype=bool)
    result = mcnemar(a, b)
    assert (result["only_a"], result["only_b"], result["both"], result["neither"]) == (7, 2, 50, 3)
    # two-sided: 2 P(X <= 2), X ~ B(9, 1/2)
    by_hand = 2 * sum(binom.pmf(i, 9, 0.5) for i in range(0, 3))
    assert np.isclose(result["p_value"], by_hand) and np.isclose(by_hand, 0.1796875)
    assert mcnemar(a, a)["p_value"] == 1.0


def test_compare_two_tiny_checkpoints(tmp_path, monkeypatch):
    from ddse_np.data.mnist import BUNDLED_MNIST, load_split
    from ddse_np.nn.evaluate import mcnemar, predict

    paths = []
    for model in ("ddse", "fc"):
        path = tmp_path / f"{model}.h5"
        assert (
            run(
                "train",
                "--model",
                model,
                *TINY_TRAIN,
                "--out",
                path,
            ).exit_code
            == 0
        )
        paths.append(path)
    result = run("compare", *paths, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    test = load_split(BUNDLED_MNIST, "test")
    correct = [
        predict(m, m.preprocess(test.images)) == test.labels for m in (load(p)[0] for p in paths)
    ]
    assert report["error_a"] == pytest.approx(100 * (1 - correct[0].mean()))
    assert report["only_a"] == int((correct[0] & ~correct[1]).sum())
    assert report["p_value"] == mcnemar(*correct)["p_value"] and report["count"] == 10000
    import ddse_np.nn.evaluate

    def printed_p(p_value):
        monkeypatch.setattr(
            ddse_np.nn.evaluate, "mcnemar", lambda a, b: dict(mcnemar(a, b), p_value=p_value)
        )
        text = run("compare", *paths)
        assert text.exit_code == 0
        return text.output.splitlines()

    assert "exact McNemar test: p = 0.01234" in printed_p(0.012341)  # a line of its own
    # a p-value below the float range (thousands of images apart) is printed as a bound, not as 0
    assert "exact McNemar test: p < 1e-300" in printed_p(0.0)
    missing = run("compare", paths[0], tmp_path / "none.h5")
    assert "does not exist" in one_line_error(missing, 1)


def test_a_diverging_run_prints_one_line_and_no_numpy_warnings(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [
            sys.executable,
            str(root / "cli.py"),
            "train",
            "--m",
            "16",
            "--train-fraction",
            "0.02",
            "--val-size",
            "300",
            "--lr",
            "1e12",
            "--quiet",
            "--out",
            str(tmp_path / "x.h5"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "RuntimeWarning" not in result.stderr, (
        result.stderr
    )
    assert result.stderr.startswith("error: the loss became")


def test_a_run_too_short_to_see_its_loss_diverge_reports_without_numpy_warnings(tmp_path):
    """Found by the option fuzzer: at --lr 100 on 260 images the three steps keep a finite loss
    (about 1e31), but the weights are huge and the test pass overflows; that costs errors, not
    RuntimeWarnings.  (It was --lr 332 while 260 images had a PCA of 784 coordinates; with the PCA
    of rank N - 1 that rate makes the loss itself NaN.)"""
    import warnings

    data = tmp_path / "mnist"
    data.mkdir()
    write_mnist_dir(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run(
            "train",
            "--data",
            data,
            "--m",
            "8",
            "--val-size",
            "40",
            "--epochs",
            "1",
            "--quiet",
            "--lr",
            "100",
            "--json",
            "--out",
            tmp_path / "x.h5",
        )
        assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
        summary = json.loads(result.output)
        assert summary["test_error"] > 50  # the diverged model is as bad as it is, and says so
        evaluated = run("eval", tmp_path / "x.h5", "--data", data)
        assert evaluated.exit_code == 0 and evaluated.exception is None, (
            evaluated.output,
            evaluated.exception,
        )


def test_a_locked_checkpoint_is_reported_as_locked(trained, tmp_path):
    import shutil
    import subprocess
    import sys

    path = tmp_path / "held.h5"  # a copy: a writer killed while it holds the file leaves it changed
    shutil.copy(trained[0], path)
    holder = subprocess.Popen(
        # open until killed
        [
            sys.executable,
            "-c",
            "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); "
            "print('open', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        line = one_line_error(run("eval", path), 1)
        assert "locked by another process" in line and "HDF5_USE_FILE_LOCKING=FALSE" in line
    finally:
        holder.kill()
        holder.wait()


def test_tables_wrap_in_a_narrow_terminal(trained):
    path, _ = trained
    result = CliRunner().invoke(cli, ["inspect", str(path)], env={"COLUMNS": "40"})
    assert result.exit_code == 0 and "…" not in result.output
    lines = [line for line in result.output.splitlines() if "W1" in line or line.startswith("│ ")]
    assert max(len(line) for line in result.output.splitlines()) <= 40
    shape_cells = "".join(line.split("│")[2].strip() for line in lines if line.count("│") > 3)
    assert shape_cells.startswith("32x784784x32")  # W1, W2.1: whole, not cut to "32x7…"


def strict_loads(text):
    """json.loads that refuses NaN and Infinity, as JavaScript's JSON.parse and jq do."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def test_every_json_output_is_strict_json(tmp_path, trained):
    path, _ = trained
    result = run(
        "train",
        "--m",
        "16",
        "--train-fraction",
        "0.02",
        "--val-size",
        "0",
        "--epochs",
        "1",
        "--quiet",
        "--json",
        "--out",
        tmp_path / "noval.h5",
    )
    summary = strict_loads(result.output.splitlines()[-1])
    assert summary["final_val_error"] is None and summary["history"]["val_error"] == [None]
    other = tmp_path / "other"
    # class 9 absent from the test data
    write_mnist_dir(other, n_train=300, n_test=100, labels_max=8)
    report = strict_loads(run("eval", path, "--json", "--data", other).output)
    assert report["per_class_error"][9] is None
    strict_loads(run("inspect", path, "--json").output)
    strict_loads(run("compare", path, path, "--json").output)


def test_a_path_with_a_nul_byte_is_one_line(trained):
    path, _ = trained
    for args in (
        ["eval", path, "--data", "a\x00b"],
        ["train", "--out", "x\x00.h5"],
        ["inspect", "a\x00.h5"],
    ):
        assert "NUL byte" in one_line_error(run(*args), 2)
