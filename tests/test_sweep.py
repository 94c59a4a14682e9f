"""Sweeps on tiny settings: plans, results written at once, resume skips done cells, figures,
learning-rate picks, refusals (the tables: test_sweep_tables.py; --beside: test_sweep_beside.py;
running the jobs: test_jobs.py)."""

import json

import pytest

from ddse_np.errors import DDSEError
from ddse_np.experiments import sweep as sw

from clitools import run
from sweeptools import TINY, TINY_WIDTH, rows


def test_plan_runs_unaffected_methods_once():
    jobs = sw.plan("sparsity", "quick", seeds=2)
    ddse = [j for j in jobs if j["method"] == "ddse"]
    fc = [j for j in jobs if j["method"] == "fc"]
    assert len(ddse) == 2 * len(sw.SWEEPS["sparsity"][2]) and len(fc) == 2
    assert all(j["value"] is None and "sparsity" not in j["config"] for j in fc)
    depth = sw.plan("depth", "paper", seeds=1, methods=("fc",))
    assert [j["config"]["k"] for j in depth] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(DDSEError):
        sw.plan("colour", "quick", 1)


def test_sweep_writes_results_resumes_and_plots(tmp_path):
    out = tmp_path / "s"
    args = ["sweep", "depth", "--methods", "ddse,fc", "--values", "1,2", *TINY, "--out", out]
    first = run(*args)
    assert first.exit_code == 0, first.output
    done = rows(out)
    assert len(done) == 4 and {r["method"] for r in done} == {"ddse", "fc"}
    assert all(0 <= r["test_error"] <= 100 and r["epochs"] == 1 for r in done)
    assert (out / "depth.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "depth.md").read_text()
    for r in done:  # every run on its own line; one epoch given, one taken: ended by the epoch cap
        assert (
            f"| {sw.PAPER_NAMES[r['method']]} | {r['value']} | 0 | {r['lr']} | "
            f"{r['val_error']:.2f} | {r['test_error']:.2f} | 1 | {r['steps']} | epoch cap (1) | "
            f"{r['seconds'] / 60:.1f} |  |"
        ) in table
    # the file has it, the terminal not
    assert "every run:" in table and "every run:" not in first.output
    again = run(*args)
    assert again.exit_code == 0 and "0 job(s) run, 4 already done" in again.output
    assert rows(out) == done
    (out / "depth.png").unlink()
    assert run(*args, "--plot-only").exit_code == 0 and (out / "depth.png").exists()


def test_a_cut_last_line_is_run_again(tmp_path):
    out = tmp_path / "s"
    args = ["sweep", "width", "--methods", "fc", "--values", "8,12", *TINY_WIDTH, "--out", out]
    assert run(*args).exit_code == 0
    text = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text(text[0] + "\n" + text[1][:20])  # a crash mid-write
    result = run(*args)
    assert "1 job(s) run, 1 already done" in result.output


def test_another_sweeps_directory_is_refused(tmp_path):
    out = tmp_path / "s"
    assert (
        run("sweep", "depth", "--methods", "fc", "--values", "1", *TINY, "--out", out).exit_code
        == 0
    )
    before = (out / "results.jsonl").read_text()
    result = run("sweep", "width", "--methods", "fc", "--values", "8", *TINY_WIDTH, "--out", out)
    assert (
        result.exit_code == 1
        and "other settings (sweep: 'depth' there, 'width' now)" in result.output
    )
    assert (out / "results.jsonl").read_text() == before


def test_a_directory_of_the_older_sweep_format_is_refused_saying_so(tmp_path):
    """Format-1 results (the last epoch tested, no "format" in sweep.json) are not mixed with new
    ones; the message says why, and how to keep using them."""
    out = tmp_path / "s"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps(dict(sweep="depth", budget="quick", settings={})))
    row = dict(
        sweep="depth", method="fc", value=1, seed=0, lr=0.05, epochs=1, test_error=9.0, seconds=1.0
    )
    (out / "results.jsonl").write_text(json.dumps(row) + "\n")
    result = run("sweep", "depth", "--methods", "fc", "--values", "1", "--out", out)
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        f"error: {out} holds results of an older format (1; this version writes {sw.FORMAT}): "
        f"choose another --out (--plot-only still redraws them)"
    ]
    assert run("sweep", "depth", "--plot-only", "--out", out).exit_code == 0


def test_a_diverging_job_is_recorded_not_fatal(tmp_path):
    out = tmp_path / "s"
    result = run(
        "sweep",
        "depth",
        "--methods",
        "fc",
        "--values",
        "1",
        *TINY,
        "--set",
        "lr=1e12",
        "--out",
        out,
    )
    assert result.exit_code == 1 and "no results to plot" in result.output  # nothing finite to draw
    row = rows(out)[0]
    assert row["test_error"] is None and "became" in row["note"]


def test_cupy_sweep_without_gpu_writes_nothing(tmp_path):
    from ddse_np.backend import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present")
    result = run("sweep", "depth", "--backend", "cupy", "--out", tmp_path / "s")
    assert result.exit_code == 1 and result.output.startswith("error: backend 'cupy'")
    assert not (tmp_path / "s").exists()


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
    result = run(
        "sweep",
        "depth",
        "--methods",
        "ddse,fc",
        "--values",
        "1",
        *TINY,
        "--set",
        "fc:lr=.02",
        "--out",
        out,
    )
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
    result = run(
        "sweep",
        "depth",
        "--methods",
        "ddse,fc",
        "--values",
        "1",
        *TINY,
        "--lr-from",
        lr_dir,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert {r["method"]: r["lr"] for r in rows(out)} == picks
    missing = run("sweep", "depth", "--lr-from", tmp_path / "depth", "--out", tmp_path / "x")
    assert missing.exit_code == 1 and "no results of a 'ddse sweep lr'" in missing.output


def test_plot_only_writes_nothing_but_the_figure_and_table(tmp_path):
    result = run("sweep", "depth", "--plot-only", "--out", tmp_path / "empty")
    assert result.exit_code == 1 and "no results to plot" in result.output
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "nosuchproto://where"])
def test_an_unreachable_scheduler_is_one_line_within_the_timeout_and_writes_nothing(
    tmp_path, address, monkeypatch
):
    distributed = pytest.importorskip("distributed")
    timeouts, client = [], distributed.Client

    def recording_client(*args, **kwargs):  # the real client, given the timeout asked for
        timeouts.append(kwargs.get("timeout"))
        return client(*args, **kwargs)

    monkeypatch.setattr(distributed, "Client", recording_client)
    result = run(
        "sweep",
        "depth",
        "--methods",
        "fc",
        "--values",
        "1",
        *TINY,
        "--scheduler",
        address,
        "--connect-timeout",
        "2",
        "--keep-checkpoints",
        "--out",
        tmp_path / "s",
    )
    assert timeouts == [2.0]  # the wait is distributed's, bounded by --connect-timeout
    lines = result.output.strip().splitlines()
    assert (
        result.exit_code == 1 and len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0]
    ), result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("values", ["0.25,0.25", "0.25,.25", "0.5,0.25,2.5e-1"])
def test_a_value_given_twice_is_refused_before_anything_runs(tmp_path, values):
    result = run(
        "sweep", "sparsity", "--values", values, "--methods", "ddse", *TINY, "--out", tmp_path / "s"
    )
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("error: --values names 0.25 more than once")
    assert not (tmp_path / "s").exists()
    twice = run(
        "sweep", "depth", "--values", "1", "--methods", "fc,fc", *TINY, "--out", tmp_path / "m"
    )
    assert twice.exit_code == 1 and "--methods names fc more than once" in twice.output


def test_never_more_worker_processes_than_jobs(tmp_path, monkeypatch):
    import concurrent.futures

    started, real = [], concurrent.futures.ProcessPoolExecutor

    def recording_pool(*args, **kwargs):
        started.append(kwargs["max_workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", recording_pool)
    monkeypatch.setattr("ddse_np.cli.sweeps.host_cores", lambda: 2)
    result = run(
        "sweep",
        "depth",
        "--values",
        "1",
        "--methods",
        "fc",
        "--seeds",
        "2",
        "--workers",
        "1000",
        *TINY,
        "--out",
        tmp_path / "s",
    )
    assert result.exit_code == 0, result.output
    assert started == [2] and len(rows(tmp_path / "s")) == 2
    assert "note: --workers" not in result.output  # 2 processes on 2 cores
    monkeypatch.setattr("ddse_np.cli.sweeps.host_cores", lambda: 1)
    again = run(
        "sweep",
        "depth",
        "--values",
        "1",
        "--methods",
        "fc",
        "--seeds",
        "3",
        "--workers",
        "1000",
        *TINY,
        "--out",
        tmp_path / "s",
    )
    assert again.exit_code == 0, again.output
    assert started == [2] and len(rows(tmp_path / "s")) == 3  # one job left: run in this process
    three = run(
        "sweep",
        "depth",
        "--values",
        "2",
        "--methods",
        "fc",
        "--seeds",
        "2",
        "--workers",
        "3",
        *TINY,
        "--out",
        tmp_path / "t",
    )
    assert three.exit_code == 0 and started == [2, 2]
    assert "note: --workers 3 starts 2 processes on 1 core(s)" in three.output
