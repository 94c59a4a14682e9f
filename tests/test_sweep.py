"""Sweeps on tiny settings: plans, results written at once, resume skips done cells, figures,
refusals, workers (each job's settings and the lr picks: test_sweep_settings.py; the tables:
test_sweep_tables.py; --beside: test_sweep_beside.py; running the jobs: test_jobs.py)."""

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
    assert all(r["schedule_ended"] is False for r in done)
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
