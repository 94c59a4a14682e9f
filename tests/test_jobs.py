"""Running a sweep's jobs on tiny settings: local processes and a Dask LocalCluster give the same
results as a plain run; partial runs resume bit for bit; a stop or a failure ends every job
cleanly."""

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from ddse_np.data.mnist import BUNDLED_MNIST
from ddse_np.errors import DDSEError
from ddse_np.experiments import dask_cluster, runner
from ddse_np.experiments import jobs as sweep_jobs
from ddse_np.experiments import sweep as sw

from clitools import run
from sweeptools import ENDLESS, TINY, partial_job, rows


def by_cell(directory):
    return {(r["method"], r["value"], r["seed"]): r["test_error"] for r in rows(directory)}


def test_local_processes_and_dask_give_the_same_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    jobs = sw.plan(
        "samples",
        "quick",
        seeds=1,
        methods=("ddse", "fc"),
        values=[0.01, 0.015],
        overrides=dict(epochs=1, m=12, val_size=200),
    )
    plain = sw.ResultsFile(tmp_path / "plain", {})
    runner.run_sweep(jobs, plain, BUNDLED_MNIST)
    pool = sw.ResultsFile(tmp_path / "pool", {})
    runner.run_sweep(jobs, pool, BUNDLED_MNIST, workers=2)
    import dask

    # Dask's nannies set OMP_NUM_THREADS=1 in their workers by default; BLAS sums then differ in the
    # last bits from this process's, so keep the workers' BLAS threads as they are here.
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": {}}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        dask = sw.ResultsFile(tmp_path / "dask", {})
        runner.run_sweep(jobs, dask, BUNDLED_MNIST, scheduler=cluster.scheduler_address)
    assert by_cell(tmp_path / "plain") == by_cell(tmp_path / "pool") == by_cell(tmp_path / "dask")
    assert len(by_cell(tmp_path / "plain")) == 4


def test_a_stopped_dask_sweep_stops_its_jobs_and_records_nothing_half_done(tmp_path):
    """A stop reaches the jobs on the cluster (a distributed.Event they poll): the sweep ends,
    though its jobs could not finish on any machine (a million epochs on a schedule that never ends
    a run early); the job that was running (one worker thread) says where it stopped, the queued
    one is only counted.  Whether the stop comes before or after the first job starts, nothing
    is recorded."""
    distributed = pytest.importorskip("distributed")
    # lr 0.05 diverges after 30 epochs
    jobs = [partial_job(epochs=ENDLESS, seed=s, lr=0.01) for s in range(2)]
    results = sw.ResultsFile(tmp_path / "s", {"sweep": "depth"})
    polls = []
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with pytest.raises(runner.SweepStopped, match=r"^0 job\(s\) recorded, 2 not finished") as e:
            # after about 3 s
            runner.run_sweep(
                jobs,
                results,
                BUNDLED_MNIST,
                scheduler=cluster.scheduler_address,
                should_stop=lambda: polls.append(1) or len(polls) > 6,
            )
    message = str(e.value)
    assert "not started" not in message and message.count(" stopped in epoch ") <= 1
    for seed in (0, 1):
        name = f"ddse-1-seed{seed}.h5"
        if f"{name} stopped " in message:
            assert (tmp_path / "s" / sweep_jobs.PARTIAL_DIR / name).exists()
    assert not (tmp_path / "s" / "results.jsonl").exists() or rows(tmp_path / "s") == []


def test_a_job_that_fails_in_a_pool_stops_the_others_keeping_their_partial_runs(
    tmp_path, monkeypatch
):
    """A job that raises (here: settings refused inside the worker) ends the sweep with its error;
    the running job saves its partial run and stops instead of training on, and so does the queued
    one if a worker had already taken it (the pool hands one job ahead), else it never starts.

    No race on any machine: the long job cannot finish (a million epochs, step schedule), and the
    failing one fails only once the long one has trained an epoch (its partial run is on disk)."""
    import multiprocessing
    import time

    from ddse_np.training.trainer import Trainer

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the workers must inherit this test's patches (fork start method)")
    partial = tmp_path / "s" / sweep_jobs.PARTIAL_DIR
    # a partial run at every epoch's end
    monkeypatch.setattr(sweep_jobs, "PARTIAL_EVERY_SECONDS", 0.0)
    start = Trainer.start.__func__

    def start_after_the_long_job_trained(cls, train_split, config, *args, **kwargs):
        # a guard against a long job that never trains, not a speed limit
        deadline = time.monotonic() + 600
        while config.val_size >= len(train_split) and not (partial / "ddse-1-seed0.h5").exists():
            assert time.monotonic() < deadline, "the long job saved no partial run"
            time.sleep(0.01)  # the job that is to fail waits for the long job's first epoch
        return start(cls, train_split, config, *args, **kwargs)

    monkeypatch.setattr(Trainer, "start", classmethod(start_after_the_long_job_trained))
    long, failing, queued = (
        partial_job(epochs=ENDLESS, seed=0),
        partial_job(seed=1, val_size=60000),
        partial_job(seed=2),
    )
    results = sw.ResultsFile(tmp_path / "s", {"sweep": "depth"})
    with pytest.raises(DDSEError, match="val-size"):
        runner.run_sweep([long, failing, queued], results, BUNDLED_MNIST, workers=2)
    from ddse_np.files.checkpoint import load

    assert sorted(p.name for p in partial.iterdir()) in (
        ["ddse-1-seed0.h5"],
        ["ddse-1-seed0.h5", "ddse-1-seed2.h5"],
    )
    progress = load(partial / "ddse-1-seed0.h5")[1]["train"]["progress"]
    assert 1 <= progress["epoch"] < ENDLESS and progress["step"] > 0
    if (partial / "ddse-1-seed2.h5").exists():  # a one-epoch job: stopped before its end
        assert load(partial / "ddse-1-seed2.h5")[1]["train"]["progress"]["epoch"] == 0
    assert not (tmp_path / "s" / "results.jsonl").exists() or rows(tmp_path / "s") == []


class Killed(Exception):
    """Stands in for a sweep process killed right after a job saved its partial run."""


def count_saves(monkeypatch, then=None):
    """Count Trainer.save calls; ``then(count)`` runs after each (to kill or fail)."""
    from ddse_np.training.trainer import Trainer

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


@pytest.mark.parametrize("schedule", [dict(schedule="step"), dict(schedule="plateau", patience=99)])
def test_a_killed_job_resumes_from_its_partial_run_with_the_same_results(
    tmp_path, monkeypatch, schedule
):
    from ddse_np.files.checkpoint import load
    from ddse_np.training.trainer import Trainer

    data = str(BUNDLED_MNIST)
    job = partial_job(**schedule)  # patience 99: 3 epochs cannot end a plateau schedule
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
    monkeypatch.setattr(
        Trainer, "_epoch", lambda self, *a: epochs_run.append(1) or real_epoch(self, *a)
    )
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
    assert row["note"].startswith(
        "partial run ddse-1-seed0.h5 not used: it was made with other settings (lr)"
    )
    assert [row[f] for f in ("epochs", "steps", "test_error")] == [
        fresh[f] for f in ("epochs", "steps", "test_error")
    ]
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
    assert (
        row["note"]
        == "partial run not saved: cannot write partial/ddse-1-seed0.h5: No space left on device"
    )
    assert len(saves) == 1  # not tried again after the first failure


def test_the_sweep_keeps_partial_runs_in_its_directory_until_results_are_recorded(
    tmp_path, monkeypatch
):
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
    # a save that SIGKILL cut short
    killed_save = out / sweep_jobs.PARTIAL_DIR / "fc-1-seed0.h5.tmp-x1y2.h5"
    killed_save.parent.mkdir(parents=True)
    killed_save.write_bytes(b"half an HDF5 file")
    assert (
        run("sweep", "depth", "--methods", "fc", "--values", "1", *TINY, "--out", "s").exit_code
        == 0
    )
    assert seen == [str(out / sweep_jobs.PARTIAL_DIR)]  # absolute, for workers elsewhere
    # removed once the row was written, then the empty directory
    assert not (out / sweep_jobs.PARTIAL_DIR).exists()


def test_a_job_asked_to_stop_saves_its_partial_run_at_once_and_resumes_to_the_same_result(tmp_path):
    """should_stop turning true mid-epoch (a signal) ends the job with JobStopped and a partial
    run saved there and then (not PARTIAL_EVERY_SECONDS later); the rerun ends where one go does."""
    from ddse_np.files.checkpoint import load

    data, job, partial_dir = str(BUNDLED_MNIST), partial_job(), tmp_path / "partial"
    whole = sweep_jobs.run_job(job, data)
    polls = []
    with pytest.raises(
        sweep_jobs.JobStopped,
        match=r"ddse-1-seed0.h5 stopped in epoch 2 after batch \d+: partial run saved$",
    ) as e:
        sweep_jobs.run_job(
            job,
            data,
            None,
            str(partial_dir),
            should_stop=lambda: polls.append(1) or len(polls) > 14,
        )
    progress = load(partial_dir / sweep_jobs.job_file_name(job))[1]["train"]["progress"]
    assert progress["epoch"] == 1 and 0 < progress["batch"] == int(
        str(e.value).split("after batch ")[1].split(":")[0]
    )
    resumed = sweep_jobs.run_job(job, data, None, str(partial_dir))
    assert (
        resumed["note"] == f"resumed from a partial run in epoch 2 after batch {progress['batch']}"
    )
    assert [resumed[f] for f in ("epochs", "steps", "val_error", "test_error")] == [
        whole[f] for f in ("epochs", "steps", "val_error", "test_error")
    ]


def test_a_job_with_validations_every_few_epochs_resumes_to_the_same_result(tmp_path):
    """Stopped between two validations (val_every 2), the job resumes to the run made in one go:
    same schedule, best-validation epoch and test error."""
    data, job, partial_dir = (
        str(BUNDLED_MNIST),
        partial_job(epochs=5, val_every=2, lr=0.01),
        tmp_path / "partial",
    )
    whole = sweep_jobs.run_job(job, data)
    polls = []
    with pytest.raises(sweep_jobs.JobStopped, match="stopped in epoch 2 after batch"):
        sweep_jobs.run_job(
            job,
            data,
            None,
            str(partial_dir),
            should_stop=lambda: polls.append(1) or len(polls) > 12,
        )
    resumed = sweep_jobs.run_job(job, data, None, str(partial_dir))
    assert resumed["note"].startswith("resumed from a partial run in epoch 2 after batch")
    assert [resumed[f] for f in ("epochs", "steps", "val_error", "test_error")] == [
        whole[f] for f in ("epochs", "steps", "val_error", "test_error")
    ]


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
        runner.wait_all(
            [failing, finished, running], wait, collect, lambda: False, lambda: stops.append(1)
        )
    assert sorted(collected) == ["late row", "row"] and stops == [1]


def test_a_stopped_sweep_records_what_finished_and_says_how_to_continue(tmp_path):
    jobs = [partial_job(epochs=1, seed=s) for s in range(3)]
    results = sw.ResultsFile(tmp_path / "s", {"sweep": "depth"})
    done, polls = [], []
    # polled before job 2, as it starts, then after each batch: true after its 2nd batch
    stop = lambda: bool(done) and (polls.append(1) or len(polls) > 3)  # noqa: E731
    with pytest.raises(
        runner.SweepStopped,
        match=r"^1 job\(s\) recorded in .*results.jsonl, 2 not finished "
        r"\(ddse-1-seed1.h5 stopped in epoch 1 after batch 2: partial run saved\); "
        r"partial runs in .*partial; run the same command again to continue$",
    ):
        runner.run_sweep(jobs, results, BUNDLED_MNIST, on_result=done.append, should_stop=stop)
    assert [r["seed"] for r in rows(tmp_path / "s")] == [0]
    assert sorted(p.name for p in (tmp_path / "s" / sweep_jobs.PARTIAL_DIR).iterdir()) == [
        "ddse-1-seed1.h5"
    ]
    assert runner.run_sweep(jobs, results, BUNDLED_MNIST) == 2
    assert sorted(r["seed"] for r in rows(tmp_path / "s")) == [0, 1, 2]
    assert not (tmp_path / "s" / sweep_jobs.PARTIAL_DIR).exists()


def test_a_job_whose_dask_worker_died_ends_the_sweep_like_a_stop(tmp_path, monkeypatch):
    """Dask's KilledWorker (the task's workers all died: out of memory, SIGKILL) is not a job's
    error but a lost worker: the other jobs are asked to stop, the finished one is recorded and
    SweepStopped names the cause."""
    from concurrent.futures import Future

    distributed = pytest.importorskip("distributed")
    stops = []

    @contextmanager
    def fake_dask(scheduler, timeout, todo, args, poll):
        lost, done, running = Future(), Future(), Future()
        lost.set_exception(
            distributed.KilledWorker("run_job-1", "tcp://127.0.0.1:1", "worker died")
        )
        done.set_result(sweep_jobs.run_job(todo[1], *args))

        def wait(pending):
            if not stops:
                return {lost, done}, {running}
            running.set_exception(
                sweep_jobs.JobStopped(
                    "ddse-1-seed2.h5 stopped in epoch 1 after batch 3: partial run saved"
                )
            )
            return {running}, set()

        yield [lost, done, running], wait, lambda: stops.append(1)

    monkeypatch.setattr(dask_cluster, "on_dask", fake_dask)
    jobs = [partial_job(epochs=1, seed=s) for s in range(3)]
    results = sw.ResultsFile(tmp_path / "s", {"sweep": "depth"})
    with pytest.raises(
        runner.SweepStopped,
        match=r"^1 job\(s\) recorded in .*, 2 not finished \(ddse-1-seed2.h5 "
        r"stopped in epoch 1 after batch 3: partial run saved\); run the same",
    ) as info:
        runner.run_sweep(jobs, results, BUNDLED_MNIST, scheduler="tcp://127.0.0.1:1")
    assert info.value.cause == runner.WORKER_LOST and stops == [1]
    assert [r["seed"] for r in rows(tmp_path / "s")] == [1]
