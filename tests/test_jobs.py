"""Running a sweep's jobs on tiny settings: local processes and a Dask LocalCluster give the same
results as a plain run; a stop or a failure ends every job cleanly (partial runs:
test_partial_runs.py)."""

from contextlib import contextmanager

import pytest

from ddse_np.data.mnist import BUNDLED_MNIST
from ddse_np.errors import DDSEError
from ddse_np.experiments import dask_cluster, runner
from ddse_np.experiments import jobs as sweep_jobs
from ddse_np.experiments import sweep as sw

from sweeptools import ENDLESS, partial_job, rows


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


def test_a_row_records_whether_the_plateau_schedule_ended_its_run():
    data = str(BUNDLED_MNIST)
    plateau = partial_job(epochs=30, schedule="plateau", patience=1, min_lr=0.01)
    ended = sweep_jobs.run_job(plateau, data)
    assert ended["schedule_ended"] is True and ended["epochs"] < 30  # the first drop ends it
    assert sweep_jobs.run_job(partial_job(epochs=1), data)["schedule_ended"] is False
