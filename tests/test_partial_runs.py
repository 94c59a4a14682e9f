"""A sweep job's partial runs: saved as it trains, resumed bit for bit after a kill or a stop
(on either schedule, with validations every few epochs), ignored when made otherwise or damaged,
kept in the sweep directory until the job's row is recorded, and a save that fails does not stop
the job."""

from pathlib import Path

import numpy as np
import pytest

from ddse_np.data.mnist import BUNDLED_MNIST
from ddse_np.experiments import jobs as sweep_jobs

from clitools import run
from sweeptools import TINY, partial_job


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
