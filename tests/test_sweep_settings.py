"""What each job of a sweep is set to: per-method settings, the settings a sweep owns, the
step-matched samples sweep, and the learning-rate picks that feed later sweeps (the sweeps
themselves: test_sweep.py)."""

import json

import pytest

from ddse_np.errors import DDSEError
from ddse_np.experiments import sweep as sw

from clitools import run
from sweeptools import TINY, rows


def tiny_depth_sweep(out, *options):
    """`ddse sweep depth` of DDSE and I at k = 1 on the tiny budget, into out, with options."""
    return run(
        "sweep", "depth", "--methods", "ddse,fc", "--values", "1", *TINY, *options, "--out", out
    )


def test_a_per_method_setting_reaches_only_its_method():
    jobs = sw.plan(
        "depth",
        "quick",
        1,
        ("ddse", "fc", "lista"),
        [1],
        {"lr": 0.05, "m": 64},
        {"fc": {"lr": 0.02}},
    )
    lrs = {j["method"]: j["config"]["lr"] for j in jobs}
    assert lrs == {"ddse": 0.05, "fc": 0.02, "lista": 0.01}  # lista: the budget's own per-method lr
    assert all(j["config"]["m"] == 64 for j in jobs)
    jobs = sw.plan("depth", "quick", 1, ("lista",), [1], {}, {"lista": {"lr": 0.003}})
    assert jobs[0]["config"]["lr"] == 0.003  # --set lista:lr wins over the budget


@pytest.mark.parametrize(
    "overrides, per_method", [({"seed": 3}, {}), ({"model": "fc"}, {}), ({}, {"fc": {"k": 2}})]
)
def test_settings_the_sweep_owns_are_refused(overrides, per_method):
    with pytest.raises(DDSEError, match="the sweep sets"):
        sw.plan("depth", "quick", 1, ("ddse", "fc"), None, overrides, per_method)


def test_set_with_a_method_prefix_on_the_command_line(tmp_path):
    out = tmp_path / "s"
    result = tiny_depth_sweep(out, "--set", "fc:lr=.02")
    assert result.exit_code == 0, result.output
    lrs = {r["method"]: r["lr"] for r in rows(out)}
    assert lrs == {"ddse": 0.05, "fc": 0.02}
    assert json.loads((out / "sweep.json").read_text())["method_settings"] == {"fc": {"lr": 0.02}}
    assert (
        (out / "depth.md")
        .read_text()
        .startswith("test error (%), mean ± sample standard deviation over 1 seed(s)")
    )
    bad = run("sweep", "depth", "--set", "cnn:lr=0.1", "--out", tmp_path / "t")
    assert (
        bad.exit_code == 1
        and "unknown method 'cnn'" in bad.output
        and not (tmp_path / "t").exists()
    )


def test_samples_sweep_matches_steps():
    jobs = sw.plan(
        "samples", "quick", 1, ("ddse",), [0.05, 0.25, 0.5, 1.0], {"epochs": 6, "patience": 3}
    )
    assert [j["config"]["epochs"] for j in jobs] == [120, 24, 12, 6]
    # validations (and the schedule's patience, counted in validations) come after the same steps
    assert [j["config"]["val_every"] for j in jobs] == [20, 4, 2, 1]
    assert [j["config"]["patience"] for j in jobs] == [3, 3, 3, 3]
    assert sw.step_matched_epochs(6, 0.01) == 6 * sw.STEP_MATCH_CAP  # capped
    assert sw.step_matched_epochs(5, 0.3) == 17  # ceil(16.67): never fewer steps than the full run
    other = sw.plan("depth", "quick", 1, ("ddse",), [1], {"epochs": 6})
    assert other[0]["config"]["epochs"] == 6


def test_samples_sweep_records_steps(tmp_path):
    out = tmp_path / "s"
    args = [
        "sweep",
        "samples",
        "--methods",
        "fc",
        "--values",
        "0.05,0.1",
        "--set",
        "epochs=1",
        "--set",
        "m=8",
        "--set",
        "val_size=200",
        "--set",
        "batch_size=100",
        "--set",
        "patience=99",
        "--out",
        out,
    ]
    assert run(*args).exit_code == 0
    done = {r["value"]: r for r in rows(out)}
    # 2,990 and 5,980 of 59,800 images at 100 a batch: 30 and 60 steps an epoch, for 20 and 10
    # epochs: the 600 steps of one epoch on all the data (598 steps)
    assert (done[0.05]["epochs"], done[0.05]["steps"]) == (20, 600) and (
        done[0.1]["epochs"],
        done[0.1]["steps"],
    ) == (10, 600)
    assert done[0.05]["val_error"] is not None  # validated once, after epoch 20 (the last)
    recorded = json.loads((out / "sweep.json").read_text())
    assert recorded["epochs"].startswith("step-matched") and recorded["val_every"].startswith(
        "step-matched"
    )


def test_pick_lr_uses_validation_error_only():
    rows_ = []
    for seed in (0, 1):
        for lr, val, test in ((0.01, 3.0, 1.0), (0.05, 2.0, 9.0), (0.1, 1.0, 0.5)):
            rows_.append(
                dict(method="ddse", value=lr, seed=seed, val_error=val + seed, test_error=test)
            )
    rows_[-1]["val_error"] = None  # 0.1 diverged for seed 1: not eligible
    rows_ += [dict(method="fc", value=0.1, seed=0, val_error=None, test_error=None)]
    assert sw.pick_lr(rows_) == {"ddse": 0.05}  # lowest validation error; test error plays no part


def test_pick_lr_ties_on_equal_error_counts_go_to_the_smaller_rate():
    """25 + 28 + 34 errors of 5,000 against 29 + 29 + 29: a tie, whatever the float sums."""
    counts = {0.02: (25, 28, 34), 0.05: (29, 29, 29)}
    rows_ = [
        dict(method="fc", value=lr, seed=seed, val_error=100 * c / 5000, test_error=1.0)
        for lr, errors in counts.items()
        for seed, c in enumerate(errors)
    ]
    means = [sum(r["val_error"] for r in rows_ if r["value"] == lr) / 3 for lr in counts]
    assert means[0] != means[1]  # the float sums differ in their last bit
    assert sw.pick_lr(rows_) == {"fc": 0.02}


def test_lr_sweep_marks_its_picks_and_feeds_a_later_sweep(tmp_path):
    lr_dir = tmp_path / "lr"
    result = run(
        "sweep", "lr", "--methods", "ddse,fc", "--values", "0.001,0.05", *TINY, "--out", lr_dir
    )
    assert result.exit_code == 0, result.output
    done = rows(lr_dir)
    assert all(r["val_error"] is not None and r["test_error"] is not None for r in done)
    picks = sw.pick_lr(done)
    for method in ("ddse", "fc"):
        best = min((r for r in done if r["method"] == method), key=lambda r: r["val_error"])
        assert picks[method] == best["value"]
    table = (lr_dir / "lr.md").read_text()
    # one pick per method
    assert table.startswith("validation error (%)") and table.count("| **") == 2
    out = tmp_path / "depth"
    result = tiny_depth_sweep(out, "--lr-from", lr_dir)
    assert result.exit_code == 0, result.output
    assert {r["method"]: r["lr"] for r in rows(out)} == picks
    missing = run("sweep", "depth", "--lr-from", tmp_path / "depth", "--out", tmp_path / "x")
    assert missing.exit_code == 1 and "no results of a 'ddse sweep lr'" in missing.output
