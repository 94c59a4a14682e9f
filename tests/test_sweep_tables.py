"""Sweep tables and their numbers: the per-value table, the per-cell runs table, every run with
what ended it, --plot-only redrawing, rounding, and a results file holding a cell twice."""

import json

import pytest

from ddse_np.experiments import sweep as sw

from clitools import run
from sweeptools import TINY, rows


def test_table_lists_every_method_and_value(tmp_path):
    results = sw.ResultsFile(tmp_path / "t", {})
    for method, value, error in [
        ("ddse", 0.1, 2.0),
        ("ddse", 0.5, 3.0),
        ("fc", None, 4.0),
        ("lista", None, None),
    ]:
        results.append(
            dict(
                sweep="sparsity",
                method=method,
                value=value,
                seed=0,
                test_error=error,
                epochs=1,
                seconds=1.0,
                checkpoint=None,
            )
        )
    text = sw.table(results, "sparsity")
    # one seed: no ±
    assert "| DDSE | 2.00 | 3.00 |" in text and "| Baseline I | 4.00 | 4.00 |" in text
    assert "| Baseline IV | diverged | diverged |" in text and "over 1 seed(s)" in text


def test_table_gives_mean_std_and_seed_counts(tmp_path):
    results = sw.ResultsFile(tmp_path / "t", {})
    for seed, (a, b) in enumerate([(1.0, 5.0), (2.0, None), (3.0, 6.0)]):
        for value, error in ((8, a), (16, b)):
            results.append(
                dict(sweep="width", method="ddse", value=value, seed=seed, test_error=error)
            )
    results.append(dict(sweep="width", method="fc", value=8, seed=0, test_error=9.0))
    text = sw.table(results, "width")
    assert "over 3 seed(s)" in text
    # sample standard deviation
    assert "| DDSE | 2.00 ± 1.00 | 5.50 ± 0.71 (n=2), 1 diverged |" in text
    assert "| Baseline I | 9.00 (n=1) |  |" in text


def test_runs_table_gives_errors_epochs_steps_and_minutes_per_cell(tmp_path):
    results = sw.ResultsFile(tmp_path / "t", {})
    for seed, (val, test, epochs, seconds) in enumerate(
        [(1.0, 1.5, 20, 600.0), (2.0, 2.5, 30, 1200.0)]
    ):
        results.append(
            dict(
                sweep="depth",
                method="ddse",
                value=2,
                seed=seed,
                val_error=val,
                test_error=test,
                epochs=epochs,
                steps=epochs * 10,
                seconds=seconds,
            )
        )
    results.append(
        dict(
            sweep="depth",
            method="ddse",
            value=2,
            seed=2,
            val_error=None,
            test_error=None,
            epochs=1,
            steps=3,
            seconds=5.0,
            note="diverged",
        )
    )
    results.append(
        dict(
            sweep="depth",
            method="fc",
            value=2,
            seed=0,
            val_error=0.5,
            test_error=0.75,
            epochs=12,
            steps=120,
            seconds=90.0,
        )
    )
    text = sw.table(results, "depth")
    assert (
        "| DDSE | 2 | 2 | 1 | 1.50 ± 0.71 | 2.00 ± 0.71 | 25.0 ± 7.1 | 250 ± 71 | 15.0 ± 7.1 | "
        "30.1 |" in text
    )
    assert "| Baseline I | 2 | 1 | 0 | 0.50 | 0.75 | 12.0 | 120 | 1.5 | 1.5 |" in text


def test_every_run_table_says_what_ended_each_run():
    from ddse_np.experiments.report import every_run_table

    base = dict(method="ddse", value=0.5, lr=0.05, val_error=1.0, test_error=1.25, seconds=90.0)
    runs = [
        dict(base, seed=1, epochs=120, steps=25800),
        dict(base, seed=0, epochs=100, note="resumed at epoch 86"),
        dict(base, seed=2, epochs=7, val_error=None, test_error=None, note="loss became nan"),
        dict(base, seed=3, epochs=121),
        dict(base, seed=4, epochs=120, schedule_ended=True),  # ended on the cap's own epoch
        dict(base, method="fc", value=None, seed=0, epochs=120),
    ]
    planned = {("ddse", 0.5): dict(epochs=120), ("fc", None): dict(epochs=130, schedule="plateau")}
    lines = every_run_table(
        runs, "train_fraction", ("ddse", "fc"), sw.PAPER_NAMES, lambda m, v: planned[(m, v)]
    ).splitlines()[4:]
    expected = [
        "| DDSE | 0.5 | 0 | 0.05 | 1.00 | 1.25 | 100 |  | schedule | 1.5 | resumed at epoch 86 |",
        "| DDSE | 0.5 | 1 | 0.05 | 1.00 | 1.25 | 120 | 25800 | epoch cap (120) | 1.5 |  |",
        "| DDSE | 0.5 | 2 | 0.05 |  |  | 7 |  | diverged | 1.5 | loss became nan |",
        # more than planned: not guessed
        "| DDSE | 0.5 | 3 | 0.05 | 1.00 | 1.25 | 121 |  |  | 1.5 |  |",
        "| DDSE | 0.5 | 4 | 0.05 | 1.00 | 1.25 | 120 |  | schedule | 1.5 |  |",
        "| Baseline I | (all) | 0 | 0.05 | 1.00 | 1.25 | 120 |  | schedule | 1.5 |  |",
    ]
    assert lines == expected
    step = {("ddse", 0.5): dict(epochs=120, schedule="step")}
    fixed = every_run_table(
        runs[:2], "train_fraction", ("ddse",), None, lambda m, v: step[(m, v)]
    ).splitlines()[4:]
    # 100 of 120: not guessed
    assert [line.split(" | ")[8] for line in fixed] == [
        "",
        "fixed schedule (120)",
    ]
    # no planned epochs: not guessed
    unknown = every_run_table(runs[:1], "train_fraction").splitlines()[4]
    assert unknown == "| ddse | 0.5 | 1 | 0.05 | 1.00 | 1.25 | 120 | 25800 |  | 1.5 |  |"
    lr_sweep = every_run_table([dict(base, value=0.02, seed=0, epochs=3)], "lr").splitlines()
    assert lr_sweep[2] == (
        "| method | lr | seed | validation error | test error | epochs | steps | ended by | "
        "minutes | note |"
    )
    assert lr_sweep[4] == "| ddse | 0.02 | 0 | 1.00 | 1.25 | 3 |  |  | 1.5 |  |"  # the lr once


def _samples_dir(tmp_path, settings):
    """A samples sweep directory with DDSE runs at ts/t = 0.5: one at its step-matched cap of 120
    epochs (60 / 0.5), one ended by its schedule at 100, made with ``settings`` (sweep.json)."""
    out = tmp_path / "s"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps(settings))
    with open(out / "results.jsonl", "w") as f:
        for seed, epochs in enumerate((120, 100)):
            f.write(
                json.dumps(
                    dict(
                        sweep="samples",
                        method="ddse",
                        value=0.5,
                        seed=seed,
                        lr=0.05,
                        epochs=epochs,
                        steps=epochs * 215,
                        val_error=1.0,
                        test_error=1.1,
                        seconds=60.0,
                    )
                )
                + "\n"
            )
    return out


def test_plot_only_tables_every_run_with_its_step_matched_cap(tmp_path):
    out = _samples_dir(
        tmp_path, dict(sweep="samples", budget="paper", settings={"epochs": 60}, format=sw.FORMAT)
    )
    result = run("sweep", "samples", "--plot-only", "--out", out)
    assert result.exit_code == 0, result.output
    table = (out / "samples.md").read_text()
    assert (
        "| DDSE | 0.5 | 0 | 0.05 | 1.00 | 1.10 | 120 | 25800 | epoch cap (120) | 1.0 |  |" in table
    )
    assert "| DDSE | 0.5 | 1 | 0.05 | 1.00 | 1.10 | 100 | 21500 | schedule | 1.0 |  |" in table
    # the file has it, the terminal not
    assert "every run:" in table and "every run:" not in result.output


@pytest.mark.parametrize(
    "settings",
    [
        # format 1: epochs not yet step-matched
        dict(sweep="samples", budget="paper", settings={"epochs": 60}),
        dict(sweep="samples", budget=["paper"], settings={"epochs": 60}, format=sw.FORMAT),
        dict(sweep="samples", budget="paper", settings=[1], format=sw.FORMAT),
        dict(sweep="samples", budget="paper", settings={"epochs": "60"}, format=sw.FORMAT),
        dict(sweep="samples", budget="paper", settings={}, method_settings=[1], format=sw.FORMAT),
    ],
)
def test_plot_only_leaves_what_ended_a_run_empty_when_the_settings_plan_no_job(tmp_path, settings):
    out = _samples_dir(tmp_path, settings)
    result = run("sweep", "samples", "--plot-only", "--out", out)
    assert result.exit_code == 0, result.output
    assert (
        "| DDSE | 0.5 | 1 | 0.05 | 1.00 | 1.10 | 100 | 21500 |  | 1.0 |  |"
        in (out / "samples.md").read_text()
    )


def test_tables_round_a_half_away_from_zero_as_its_decimal_value_does():
    """The mean of 2.13 and 2.08 is 2.105 (the float 2.10499999999999998...): 2.11, as on paper."""
    from ddse_np.experiments.report import fixed, mean_std, sweep_table

    assert f"{(2.13 + 2.08) / 2:.2f}" == "2.10"  # what plain float formatting gives
    assert mean_std([2.13, 2.08]) == "2.11 ± 0.04"
    assert [fixed(x) for x in (0.605, 0.635, 0.645, -0.005, 1.0)] == [
        "0.61", "0.64", "0.65", "-0.01", "1.00"
    ]  # fmt: skip
    assert (fixed(64500.0, 0), mean_std([0.7]), mean_std([])) == ("64500", "0.70", "")
    assert (fixed(float("inf")), fixed(float("nan"))) == ("inf", "nan")
    cell = [
        dict(method="ddse", value=0.1, seed=i, test_error=e) for i, e in enumerate((2.13, 2.08))
    ]
    assert "| ddse | 2.11 ± 0.04 |" in sweep_table(cell, "ts/t")


def test_a_results_file_holding_a_cell_twice_is_reported_not_averaged(tmp_path):
    out = tmp_path / "s"
    result = run("sweep", "depth", "--values", "1", "--methods", "fc", *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    (first,) = rows(out)
    # the same cell again, as a hand-merged file would hold it
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(dict(first, test_error=first["test_error"] + 40.0)) + "\n")
    redrawn = run("sweep", "depth", "--plot-only", "--out", out)
    assert redrawn.exit_code == 0, redrawn.output
    assert (
        "holds 1 more row(s) for cells it already has (first: fc depth=1 seed 0)" in redrawn.output
    )
    table = (out / "depth.md").read_text()
    assert f"| Baseline I | {first['test_error']:.2f} |\n" in table and "over 1 seed(s)" in table
    assert "| Baseline I | 1 | 1 | 0 |" in table  # one seed, not two
