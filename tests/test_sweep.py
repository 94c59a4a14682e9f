"""Sweep machinery on tiny settings: results written at once, resume skips done cells, figures,
local processes and a Dask LocalCluster give the same results as a plain run."""
import json
from pathlib import Path

import numpy as np

import pytest

from clitools import run
from ddse_np import jobs as sweep_jobs
from ddse_np import sweep as sw
from ddse_np.data import BUNDLED_MNIST
from ddse_np.errors import DDSEError

TINY = ["--set", "epochs=1", "--set", "m=12", "--set", "train_fraction=0.015", "--set", "val_size=200"]
TINY_WIDTH = TINY[:2] + TINY[4:]  # the width sweep sets m itself
TINY_SETTINGS = dict(epochs=1, m=12, train_fraction=0.015, val_size=200)


def rows(directory):
    return [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]


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
    assert run("sweep", "depth", "--methods", "fc", "--values", "1", *TINY, "--out", out).exit_code == 0
    before = (out / "results.jsonl").read_text()
    result = run("sweep", "width", "--methods", "fc", "--values", "8", *TINY_WIDTH, "--out", out)
    assert result.exit_code == 1 and "other settings (sweep: 'depth' there, 'width' now)" in result.output
    assert (out / "results.jsonl").read_text() == before


def by_cell(directory):
    return {(r["method"], r["value"], r["seed"]): r["test_error"] for r in rows(directory)}


def test_local_processes_and_dask_give_the_same_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    jobs = sw.plan("samples", "quick", seeds=1, methods=("ddse", "fc"), values=[0.01, 0.015],
                   overrides=dict(epochs=1, m=12, val_size=200))
    plain = sw.ResultsFile(tmp_path / "plain", {})
    sweep_jobs.run_sweep(jobs, plain, BUNDLED_MNIST)
    pool = sw.ResultsFile(tmp_path / "pool", {})
    sweep_jobs.run_sweep(jobs, pool, BUNDLED_MNIST, workers=2)
    import dask

    # Dask's nannies set OMP_NUM_THREADS=1 in their workers by default; BLAS sums then differ in the
    # last bits from this process's, so keep the workers' BLAS threads as they are here.
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {}}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster:
        dask = sw.ResultsFile(tmp_path / "dask", {})
        sweep_jobs.run_sweep(jobs, dask, BUNDLED_MNIST, scheduler=cluster.scheduler_address)
    assert by_cell(tmp_path / "plain") == by_cell(tmp_path / "pool") == by_cell(tmp_path / "dask")
    assert len(by_cell(tmp_path / "plain")) == 4


def test_a_stopped_dask_sweep_stops_its_jobs_and_records_nothing_half_done(tmp_path):
    """A stop reaches the jobs on the cluster (a distributed.Event they poll): the sweep ends within
    seconds, not after the jobs' 3,000 epochs, with each job stopped ("not started" if it had not)."""
    import time

    distributed = pytest.importorskip("distributed")
    jobs = [partial_job(epochs=3000, seed=s, lr=0.01) for s in range(2)]  # lr 0.05 diverges after 30 epochs
    results = sw.ResultsFile(tmp_path / "s", {"sweep": "depth"})
    polls = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        started = time.monotonic()
        with pytest.raises(sweep_jobs.SweepStopped, match=r"^0 job\(s\) recorded, 2 not finished") as e:
            sweep_jobs.run_sweep(jobs, results, BUNDLED_MNIST, scheduler=cluster.scheduler_address,
                                 should_stop=lambda: polls.append(1) or len(polls) > 6)  # after about 3 s
        assert time.monotonic() - started < 60
    message = str(e.value)
    for seed in (0, 1):
        name = f"ddse-1-seed{seed}.h5"
        assert f"{name} not started" in message or f"{name} stopped " in message
        if f"{name} stopped " in message:
            assert (tmp_path / "s" / sweep_jobs.PARTIAL_DIR / name).exists()
    assert not (tmp_path / "s" / "results.jsonl").exists() or rows(tmp_path / "s") == []


def test_a_job_that_fails_in_a_pool_stops_the_others_keeping_their_partial_runs(tmp_path):
    """A job that raises (here: settings refused inside the worker) ends the sweep with its error;
    the running job saves its partial run and stops instead of training on, and so does the queued one
    if a worker had already taken it (the pool hands one job ahead), else it never starts."""
    long, failing, queued = partial_job(epochs=300, seed=0), partial_job(seed=1, val_size=60000), partial_job(seed=2)
    results = sw.ResultsFile(tmp_path / "s", {"sweep": "depth"})
    with pytest.raises(DDSEError, match="val-size"):
        sweep_jobs.run_sweep([long, failing, queued], results, BUNDLED_MNIST, workers=2)
    from ddse_np.checkpoint import load

    partial = tmp_path / "s" / sweep_jobs.PARTIAL_DIR
    assert sorted(p.name for p in partial.iterdir()) in (["ddse-1-seed0.h5"], ["ddse-1-seed0.h5", "ddse-1-seed2.h5"])
    progress = load(partial / "ddse-1-seed0.h5")[1]["train"]["progress"]
    assert progress["epoch"] < 300 and progress["step"] > 0
    if (partial / "ddse-1-seed2.h5").exists():  # a one-epoch job: stopped before its end
        assert load(partial / "ddse-1-seed2.h5")[1]["train"]["progress"]["epoch"] == 0
    assert not (tmp_path / "s" / "results.jsonl").exists() or rows(tmp_path / "s") == []


def test_table_lists_every_method_and_value(tmp_path):
    results = sw.ResultsFile(tmp_path / "t", {})
    for method, value, error in [("ddse", 0.1, 2.0), ("ddse", 0.5, 3.0), ("fc", None, 4.0), ("lista", None, None)]:
        results.append(dict(sweep="sparsity", method=method, value=value, seed=0, test_error=error,
                            epochs=1, seconds=1.0, checkpoint=None))
    text = sw.table(results, "sparsity")
    assert "| DDSE | 2.00 | 3.00 |" in text and "| Baseline I | 4.00 | 4.00 |" in text  # one seed: no ±
    assert "| Baseline IV | diverged | diverged |" in text and "over 1 seed(s)" in text


def test_table_gives_mean_std_and_seed_counts(tmp_path):
    results = sw.ResultsFile(tmp_path / "t", {})
    for seed, (a, b) in enumerate([(1.0, 5.0), (2.0, None), (3.0, 6.0)]):
        for value, error in ((8, a), (16, b)):
            results.append(dict(sweep="width", method="ddse", value=value, seed=seed, test_error=error))
    results.append(dict(sweep="width", method="fc", value=8, seed=0, test_error=9.0))
    text = sw.table(results, "width")
    assert "over 3 seed(s)" in text
    assert "| DDSE | 2.00 ± 1.00 | 5.50 ± 0.71 (n=2), 1 diverged |" in text  # sample standard deviation
    assert "| Baseline I | 9.00 (n=1) |  |" in text


def test_runs_table_gives_errors_epochs_steps_and_minutes_per_cell(tmp_path):
    results = sw.ResultsFile(tmp_path / "t", {})
    for seed, (val, test, epochs, seconds) in enumerate([(1.0, 1.5, 20, 600.0), (2.0, 2.5, 30, 1200.0)]):
        results.append(dict(sweep="depth", method="ddse", value=2, seed=seed, val_error=val, test_error=test,
                            epochs=epochs, steps=epochs * 10, seconds=seconds))
    results.append(dict(sweep="depth", method="ddse", value=2, seed=2, val_error=None, test_error=None,
                        epochs=1, steps=3, seconds=5.0, note="diverged"))
    results.append(dict(sweep="depth", method="fc", value=2, seed=0, val_error=0.5, test_error=0.75,
                        epochs=12, steps=120, seconds=90.0))
    text = sw.table(results, "depth")
    assert "| DDSE | 2 | 2 | 1 | 1.50 ± 0.71 | 2.00 ± 0.71 | 25.0 ± 7.1 | 250 ± 71 | 15.0 ± 7.1 | 30.1 |" in text
    assert "| Baseline I | 2 | 1 | 0 | 0.50 | 0.75 | 12.0 | 120 | 1.5 | 1.5 |" in text


def test_a_diverging_job_is_recorded_not_fatal(tmp_path):
    out = tmp_path / "s"
    result = run("sweep", "depth", "--methods", "fc", "--values", "1", *TINY, "--set", "lr=1e12", "--out", out)
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
    jobs = sw.plan("depth", "quick", 1, ("ddse", "fc", "lista"), [1], {"lr": 0.05, "m": 64}, {"fc": {"lr": 0.02}})
    lrs = {j["method"]: j["config"]["lr"] for j in jobs}
    assert lrs == {"ddse": 0.05, "fc": 0.02, "lista": 0.01}  # lista: the budget's own per-method lr
    assert all(j["config"]["m"] == 64 for j in jobs)
    jobs = sw.plan("depth", "quick", 1, ("lista",), [1], {}, {"lista": {"lr": 0.003}})
    assert jobs[0]["config"]["lr"] == 0.003  # --set lista:lr wins over the budget


@pytest.mark.parametrize("overrides, per_method", [({"seed": 3}, {}), ({"model": "fc"}, {}), ({}, {"fc": {"k": 2}})])
def test_settings_the_sweep_owns_are_refused(overrides, per_method):
    with pytest.raises(DDSEError, match="the sweep sets"):
        sw.plan("depth", "quick", 1, ("ddse", "fc"), None, overrides, per_method)


def test_set_with_a_method_prefix_on_the_command_line(tmp_path):
    out = tmp_path / "s"
    result = run("sweep", "depth", "--methods", "ddse,fc", "--values", "1", *TINY, "--set", "fc:lr=.02", "--out", out)
    assert result.exit_code == 0, result.output
    lrs = {r["method"]: r["lr"] for r in rows(out)}
    assert lrs == {"ddse": 0.05, "fc": 0.02}
    assert json.loads((out / "sweep.json").read_text())["method_settings"] == {"fc": {"lr": 0.02}}
    assert (out / "depth.md").read_text().startswith("test error (%), mean ± sample standard deviation over 1 seed(s)")
    bad = run("sweep", "depth", "--set", "cnn:lr=0.1", "--out", tmp_path / "t")
    assert bad.exit_code == 1 and "unknown method 'cnn'" in bad.output and not (tmp_path / "t").exists()


def test_samples_sweep_matches_steps():
    jobs = sw.plan("samples", "quick", 1, ("ddse",), [0.05, 0.25, 0.5, 1.0], {"epochs": 6, "patience": 3})
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
    args = ["sweep", "samples", "--methods", "fc", "--values", "0.05,0.1", "--set", "epochs=1", "--set", "m=8",
            "--set", "val_size=200", "--set", "batch_size=100", "--set", "patience=99", "--out", out]
    assert run(*args).exit_code == 0
    done = {r["value"]: r for r in rows(out)}
    # 2,990 and 5,980 of 59,800 images at 100 a batch: 30 and 60 steps an epoch, for 20 and 10 epochs:
    # the 600 steps of one epoch on all the data (598 steps)
    assert (done[0.05]["epochs"], done[0.05]["steps"]) == (20, 600) and (done[0.1]["epochs"], done[0.1]["steps"]) == (10, 600)
    assert done[0.05]["val_error"] is not None  # validated once, after epoch 20 (the last)
    recorded = json.loads((out / "sweep.json").read_text())
    assert recorded["epochs"].startswith("step-matched") and recorded["val_every"].startswith("step-matched")


def test_pick_lr_uses_validation_error_only():
    rows_ = []
    for seed in (0, 1):
        for lr, val, test in ((0.01, 3.0, 1.0), (0.05, 2.0, 9.0), (0.1, 1.0, 0.5)):
            rows_.append(dict(method="ddse", value=lr, seed=seed, val_error=val + seed, test_error=test))
    rows_[-1]["val_error"] = None  # 0.1 diverged for seed 1: not eligible
    rows_ += [dict(method="fc", value=0.1, seed=0, val_error=None, test_error=None)]
    assert sw.pick_lr(rows_) == {"ddse": 0.05}  # lowest validation error; test error plays no part


def test_lr_sweep_marks_its_picks_and_feeds_a_later_sweep(tmp_path):
    lr_dir = tmp_path / "lr"
    result = run("sweep", "lr", "--methods", "ddse,fc", "--values", "0.001,0.05", *TINY, "--out", lr_dir)
    assert result.exit_code == 0, result.output
    done = rows(lr_dir)
    assert all(r["val_error"] is not None and r["test_error"] is not None for r in done)
    picks = sw.pick_lr(done)
    for method in ("ddse", "fc"):
        best = min((r for r in done if r["method"] == method), key=lambda r: r["val_error"])
        assert picks[method] == best["value"]
    table = (lr_dir / "lr.md").read_text()
    assert table.startswith("validation error (%)") and table.count("| **") == 2  # one pick per method
    out = tmp_path / "depth"
    result = run("sweep", "depth", "--methods", "ddse,fc", "--values", "1", *TINY, "--lr-from", lr_dir, "--out", out)
    assert result.exit_code == 0, result.output
    assert {r["method"]: r["lr"] for r in rows(out)} == picks
    missing = run("sweep", "depth", "--lr-from", tmp_path / "depth", "--out", tmp_path / "x")
    assert missing.exit_code == 1 and "no results of a 'ddse sweep lr'" in missing.output


def test_plot_only_writes_nothing_but_the_figure_and_table(tmp_path):
    result = run("sweep", "depth", "--plot-only", "--out", tmp_path / "empty")
    assert result.exit_code == 1 and "no results to plot" in result.output
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "nosuchproto://where"])
def test_an_unreachable_scheduler_is_one_line_within_the_timeout_and_writes_nothing(tmp_path, address):
    import time

    pytest.importorskip("distributed")
    started = time.monotonic()
    result = run("sweep", "depth", "--methods", "fc", "--values", "1", *TINY, "--scheduler", address,
                 "--connect-timeout", "2", "--keep-checkpoints", "--out", tmp_path / "s")
    assert time.monotonic() - started < 20
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0], result.output
    assert not (tmp_path / "s").exists()


class Killed(Exception):
    """Stands in for a sweep process killed right after a job saved its partial run."""


def partial_job(epochs=3, seed=0, **settings):
    overrides = dict(TINY_SETTINGS, epochs=epochs, patience=99, **settings)
    return sw.plan("depth", "quick", seeds=seed + 1, methods=("ddse",), values=[1], overrides=overrides)[seed]


def count_saves(monkeypatch, then=None):
    """Count Trainer.save calls; ``then(count)`` runs after each (to kill or fail)."""
    from ddse_np.train import Trainer

    original, saves = Trainer.save, []

    def save(self, path):
        original(self, path)
        saves.append(path)
        if then:
            then(len(saves))

    monkeypatch.setattr(Trainer, "save", save)
    return saves


def kill_at_first_save(count):
    if count == 1:
        raise Killed


def test_a_killed_job_resumes_from_its_partial_run_with_the_same_results(tmp_path, monkeypatch):
    from ddse_np.checkpoint import load
    from ddse_np.train import Trainer

    data = str(BUNDLED_MNIST)
    job = partial_job()
    saves = count_saves(monkeypatch)
    whole = sweep_jobs.run_job(job, data, str(tmp_path / "whole"), str(tmp_path / "partial-whole"))
    assert whole["note"] is None and saves == []  # 3 short epochs: not PARTIAL_EVERY_SECONDS apart
    monkeypatch.setattr(sweep_jobs, "PARTIAL_EVERY_SECONDS", 0.0)
    count_saves(monkeypatch, then=kill_at_first_save)
    with pytest.raises(Killed):
        sweep_jobs.run_job(job, data, str(tmp_path / "broken"), str(tmp_path / "partial"))
    partial = tmp_path / "partial" / sweep_jobs.job_file_name(job)
    assert load(partial)[1]["train"]["progress"]["epoch"] == 1
    epochs_run, real_epoch = [], Trainer._epoch
    monkeypatch.setattr(Trainer, "_epoch", lambda self, *a: epochs_run.append(1) or real_epoch(self, *a))
    resumed = sweep_jobs.run_job(job, data, str(tmp_path / "broken"), str(tmp_path / "partial"))
    assert len(epochs_run) == 2  # epochs 2 and 3 only
    assert resumed["note"] == "resumed from a partial run after epoch 1"
    for field in ("epochs", "steps", "val_error", "test_error"):
        assert resumed[field] == whole[field], field
    a, b = load(whole["checkpoint"])[0], load(resumed["checkpoint"])[0]
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])  # bit for bit, as in one go


def test_a_partial_run_of_other_settings_or_damaged_is_not_used(tmp_path, monkeypatch):
    data, partial_dir = str(BUNDLED_MNIST), tmp_path / "partial"
    monkeypatch.setattr(sweep_jobs, "PARTIAL_EVERY_SECONDS", 0.0)
    count_saves(monkeypatch, then=kill_at_first_save)
    with pytest.raises(Killed):
        sweep_jobs.run_job(partial_job(lr=0.02), data, None, str(partial_dir))
    job = partial_job(lr=0.01)  # same file name, another learning rate
    assert (partial_dir / sweep_jobs.job_file_name(job)).exists()
    fresh = sweep_jobs.run_job(job, data)
    row = sweep_jobs.run_job(job, data, None, str(partial_dir))
    assert row["note"].startswith("partial run ddse-1-seed0.h5 not used: it was made with other settings (lr)")
    assert [row[f] for f in ("epochs", "steps", "test_error")] == [fresh[f] for f in ("epochs", "steps", "test_error")]
    (partial_dir / sweep_jobs.job_file_name(job)).write_bytes(b"not an HDF5 file")
    row = sweep_jobs.run_job(job, data, None, str(partial_dir))
    assert "not used" in row["note"] and row["epochs"] == 3


def test_a_partial_run_that_cannot_be_saved_does_not_stop_the_job(tmp_path, monkeypatch):
    from ddse_np.errors import DDSEError as Full

    def disk_full(count):
        raise Full("cannot write partial/ddse-1-seed0.h5: No space left on device")

    monkeypatch.setattr(sweep_jobs, "PARTIAL_EVERY_SECONDS", 0.0)
    saves = count_saves(monkeypatch, then=disk_full)
    row = sweep_jobs.run_job(partial_job(), str(BUNDLED_MNIST), None, str(tmp_path / "partial"))
    assert row["epochs"] == 3 and row["test_error"] is not None
    assert row["note"] == "partial run not saved: cannot write partial/ddse-1-seed0.h5: No space left on device"
    assert len(saves) == 1  # not tried again after the first failure


def test_the_sweep_keeps_partial_runs_in_its_directory_until_results_are_recorded(tmp_path, monkeypatch):
    out = tmp_path / "s"
    seen, real = [], sweep_jobs.run_job

    def spy(job, data_dir, checkpoint_dir=None, partial_dir=None, **kwargs):
        seen.append(partial_dir)
        row = real(job, data_dir, checkpoint_dir, partial_dir, **kwargs)
        leftover = Path(partial_dir) / sweep_jobs.job_file_name(job)
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_bytes(b"a partial run whose job has just finished")
        return row

    monkeypatch.setattr(sweep_jobs, "run_job", spy)
    monkeypatch.chdir(tmp_path)
    killed_save = out / sweep_jobs.PARTIAL_DIR / "fc-1-seed0.h5.tmp-x1y2.h5"  # a save that SIGKILL cut short
    killed_save.parent.mkdir(parents=True)
    killed_save.write_bytes(b"half an HDF5 file")
    assert run("sweep", "depth", "--methods", "fc", "--values", "1", *TINY, "--out", "s").exit_code == 0
    assert seen == [str(out / sweep_jobs.PARTIAL_DIR)]  # absolute, for workers elsewhere
    assert not (out / sweep_jobs.PARTIAL_DIR).exists()  # removed once the row was written, then the empty directory


def test_beside_adds_another_sweeps_runs_of_the_same_config_at_this_sweeps_value(tmp_path):
    depth, sparsity = tmp_path / "d", tmp_path / "s"
    assert run("sweep", "depth", "--methods", "ddse,fc", "--values", "1,2", *TINY, "--out", depth).exit_code == 0
    k2 = {r["method"]: r for r in rows(depth) if r["value"] == 2}
    result = run("sweep", "sparsity", "--methods", "ddse,fc", "--values", "0.5", "--seeds", "1", *TINY,
                 "--out", sparsity, "--beside", depth)
    assert result.exit_code == 0, result.output
    table = (sparsity / "sparsity.md").read_text()
    # DDSE's k = 2 run (the default k) is the s/n 0.25 run of this sweep; its k = 1 run is not;
    # baseline I's k = 2 run is this sweep's own (flat) fc seed 0 again: not counted twice
    assert "| DDSE | 0.25 | 1 | 0 |" in table and f"{k2['ddse']['test_error']:.2f}" in table
    assert "| Baseline I | (all) | 1 | 0 |" in table and "| Baseline I | 0.25" not in table
    assert f"includes 1 run(s) of {depth}: DDSE at sparsity 0.25, seed(s) 0" in table
    assert [r["method"] for r in rows(sparsity)] == ["ddse", "fc"]  # drawn, never written into results.jsonl


@pytest.mark.parametrize("setting, differs", [(["--set", "epochs=2"], "epochs: 1 there, 2 here"),
                                               (["--set", "epochs=1", "--set", "ddse:lr=0.02"], "lr: 0.05 there, 0.02 here")])
def test_beside_refuses_runs_made_otherwise_before_running(tmp_path, setting, differs):
    depth = tmp_path / "d"
    assert run("sweep", "depth", "--methods", "ddse", "--values", "1,2", *TINY, "--out", depth).exit_code == 0
    other = run("sweep", "sparsity", "--methods", "ddse", "--values", "0.5", *TINY[2:], *setting,
                "--out", tmp_path / "s", "--beside", depth)
    assert other.exit_code == 1 and f"none of its runs of ddse is a run of this sweep ({differs})" in other.output
    assert not (tmp_path / "s").exists()  # refused before any run


def test_a_job_asked_to_stop_saves_its_partial_run_at_once_and_resumes_to_the_same_result(tmp_path):
    """should_stop turning true mid-epoch (a signal) ends the job with JobStopped and a partial
    run saved there and then (not PARTIAL_EVERY_SECONDS later); the rerun ends where one go does."""
    from ddse_np.checkpoint import load

    data, job, partial_dir = str(BUNDLED_MNIST), partial_job(), tmp_path / "partial"
    whole = sweep_jobs.run_job(job, data)
    polls = []
    with pytest.raises(sweep_jobs.JobStopped, match=r"ddse-1-seed0.h5 stopped in epoch 2 after batch \d+: partial run saved$") as e:
        sweep_jobs.run_job(job, data, None, str(partial_dir), should_stop=lambda: polls.append(1) or len(polls) > 14)
    progress = load(partial_dir / sweep_jobs.job_file_name(job))[1]["train"]["progress"]
    assert progress["epoch"] == 1 and 0 < progress["batch"] == int(str(e.value).split("after batch ")[1].split(":")[0])
    resumed = sweep_jobs.run_job(job, data, None, str(partial_dir))
    assert resumed["note"] == f"resumed from a partial run in epoch 2 after batch {progress['batch']}"
    assert [resumed[f] for f in ("epochs", "steps", "val_error", "test_error")] == \
        [whole[f] for f in ("epochs", "steps", "val_error", "test_error")]


def test_a_job_with_validations_every_few_epochs_resumes_to_the_same_result(tmp_path):
    """Stopped between two validations (val_every 2), the job resumes to the run made in one go:
    same schedule, best-validation epoch and test error."""
    data, job, partial_dir = str(BUNDLED_MNIST), partial_job(epochs=5, val_every=2, lr=0.01), tmp_path / "partial"
    whole = sweep_jobs.run_job(job, data)
    polls = []
    with pytest.raises(sweep_jobs.JobStopped, match="stopped in epoch 2 after batch"):
        sweep_jobs.run_job(job, data, None, str(partial_dir), should_stop=lambda: polls.append(1) or len(polls) > 12)
    resumed = sweep_jobs.run_job(job, data, None, str(partial_dir))
    assert resumed["note"].startswith("resumed from a partial run in epoch 2 after batch")
    assert [resumed[f] for f in ("epochs", "steps", "val_error", "test_error")] == \
        [whole[f] for f in ("epochs", "steps", "val_error", "test_error")]


def test_waiting_for_jobs_records_every_finished_one_before_raising_a_failure():
    """A failure and a finished job completing together: the finished one is still collected, the
    others are asked to stop once, and the failure is raised after everything has ended."""
    from concurrent.futures import Future

    failing, finished, running = Future(), Future(), Future()
    failing.set_exception(DDSEError("disk full"))
    finished.set_result("row")
    collected, stops = [], []

    def wait(pending):
        if running in pending and not stops:
            return {failing, finished}, {running}
        running.set_result("late row")  # ends after the stop
        return {running}, set()

    def collect(future):
        collected.append(future.result())
        return False

    with pytest.raises(DDSEError, match="disk full"):
        sweep_jobs._wait_all([failing, finished, running], wait, collect, lambda: False, lambda: stops.append(1))
    assert sorted(collected) == ["late row", "row"] and stops == [1]


def test_a_stopped_sweep_records_what_finished_and_says_how_to_continue(tmp_path):
    jobs = [partial_job(epochs=1, seed=s) for s in range(3)]
    results = sw.ResultsFile(tmp_path / "s", {"sweep": "depth"})
    done, polls = [], []
    # polled before job 2, as it starts, then after each batch: true after its 2nd batch
    stop = lambda: bool(done) and (polls.append(1) or len(polls) > 3)  # noqa: E731
    with pytest.raises(sweep_jobs.SweepStopped, match=r"^1 job\(s\) recorded in .*results.jsonl, 2 not finished "
                                              r"\(ddse-1-seed1.h5 stopped in epoch 1 after batch 2: partial run saved\); "
                                              r"partial runs in .*partial; run the same command again to continue$"):
        sweep_jobs.run_sweep(jobs, results, BUNDLED_MNIST, on_result=done.append, should_stop=stop)
    assert [r["seed"] for r in rows(tmp_path / "s")] == [0]
    assert sorted(p.name for p in (tmp_path / "s" / sweep_jobs.PARTIAL_DIR).iterdir()) == ["ddse-1-seed1.h5"]
    assert sweep_jobs.run_sweep(jobs, results, BUNDLED_MNIST) == 2
    assert sorted(r["seed"] for r in rows(tmp_path / "s")) == [0, 1, 2]
    assert not (tmp_path / "s" / sweep_jobs.PARTIAL_DIR).exists()
