"""Sweep machinery on tiny settings: results written at once, resume skips done cells, figures,
local processes and a Dask LocalCluster give the same results as a plain run."""
import json

import pytest
from click.testing import CliRunner

from ddse_np.cli import cli
from ddse_np import sweep as sw
from ddse_np.data import BUNDLED_MNIST
from ddse_np.errors import DDSEError

TINY = ["--set", "epochs=1", "--set", "m=12", "--set", "train_fraction=0.015", "--set", "val_size=200"]
TINY_SETTINGS = dict(epochs=1, m=12, train_fraction=0.015, val_size=200)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


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
    args = ["sweep", "width", "--methods", "fc", "--values", "8,12", *TINY, "--out", out]
    assert run(*args).exit_code == 0
    text = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text(text[0] + "\n" + text[1][:20])  # a crash mid-write
    result = run(*args)
    assert "1 job(s) run, 1 already done" in result.output


def test_another_sweeps_directory_is_refused(tmp_path):
    out = tmp_path / "s"
    assert run("sweep", "depth", "--methods", "fc", "--values", "1", *TINY, "--out", out).exit_code == 0
    before = (out / "results.jsonl").read_text()
    result = run("sweep", "width", "--methods", "fc", "--values", "8", *TINY, "--out", out)
    assert result.exit_code == 1 and "another sweep's results" in result.output
    assert (out / "results.jsonl").read_text() == before


def by_cell(directory):
    return {(r["method"], r["value"], r["seed"]): r["test_error"] for r in rows(directory)}


def test_local_processes_and_dask_give_the_same_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    jobs = sw.plan("samples", "quick", seeds=1, methods=("ddse", "fc"), values=[0.01, 0.015],
                   overrides=dict(epochs=1, m=12, val_size=200))
    plain = sw.ResultsFile(tmp_path / "plain", {})
    sw.run_sweep(jobs, plain, BUNDLED_MNIST)
    pool = sw.ResultsFile(tmp_path / "pool", {})
    sw.run_sweep(jobs, pool, BUNDLED_MNIST, workers=2)
    import dask

    # Dask's nannies set OMP_NUM_THREADS=1 in their workers by default; BLAS sums then differ in the
    # last bits from this process's, so keep the workers' BLAS threads as they are here.
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {}}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster:
        dask = sw.ResultsFile(tmp_path / "dask", {})
        sw.run_sweep(jobs, dask, BUNDLED_MNIST, scheduler=cluster.scheduler_address)
    assert by_cell(tmp_path / "plain") == by_cell(tmp_path / "pool") == by_cell(tmp_path / "dask")
    assert len(by_cell(tmp_path / "plain")) == 4


def test_table_lists_every_method_and_value(tmp_path):
    results = sw.ResultsFile(tmp_path / "t", {})
    for method, value, error in [("ddse", 0.1, 2.0), ("ddse", 0.5, 3.0), ("fc", None, 4.0), ("lista", None, None)]:
        results.append(dict(sweep="sparsity", method=method, value=value, seed=0, test_error=error,
                            epochs=1, seconds=1.0, checkpoint=None))
    text = sw.table(results, "sparsity")
    assert "| DDSE | 2.00 | 3.00 |" in text and "| Baseline I | 4.00 | 4.00 |" in text
    assert "| Baseline IV | diverged | diverged |" in text


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
