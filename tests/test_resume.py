"""Resuming: a run stopped anywhere and resumed ends bit-for-bit where the unbroken run ends."""

import numpy as np
import pytest
from click.testing import CliRunner

from ddse_np.cli import cli
from ddse_np.errors import DDSEError
from ddse_np.files.checkpoint import load, save
from ddse_np.training.resume import resume_run
from ddse_np.training.trainer import NumericalFault, TrainConfig, Trainer

SMALL = dict(m=24, k=2, epochs=3, val_size=300, batch_size=100, project_every=4, patience=1)


def stop_after(steps):
    """A should_stop that turns true once the trainer has made ``steps`` steps in all."""
    box = {}

    def should_stop():
        return box["trainer"].progress.step >= steps

    return box, should_stop


def interrupted_then_resumed(tmp_path, train_split, config, steps):
    trainer = Trainer.start(train_split, config)
    box, should_stop = stop_after(steps)
    box["trainer"] = trainer
    assert trainer.run(should_stop=should_stop) is False
    trainer.save(tmp_path / "stopped.h5")
    resumed = resume_run(tmp_path / "stopped.h5", train_split)
    assert resumed.progress.step == steps
    assert resumed.run() is True
    return resumed


@pytest.mark.parametrize(
    "model, extra, steps",
    [
        ("ddse", {}, 17),  # mid-epoch, between projections
        ("ddse", {}, 12),  # exactly at an epoch boundary (12 batches)
        ("fc-dropout", dict(aug_rotate=10, aug_noise=0.05), 23),  # masks and augmentation
        ("fc-dropconnect", {}, 17),  # weight masks
        ("lista", {}, 17),  # dropout on shrinkage layers
        # the fixed step schedule, across its drop
        (
            "ddse",
            dict(schedule="step", lr_drops="0.34,0.67"),
            17,
        ),
    ],
)
def test_stopped_and_resumed_equals_unbroken(tmp_path, mnist_small, model, extra, steps):
    config = TrainConfig(**SMALL, model=model, seed=4, **extra)
    unbroken = Trainer.start(mnist_small, config)
    unbroken.run()
    resumed = interrupted_then_resumed(
        tmp_path, mnist_small, TrainConfig(**SMALL, model=model, seed=4, **extra), steps
    )
    for name, value in unbroken.model.params.items():
        assert np.array_equal(value, resumed.model.params[name]), name
    for name in unbroken.optimizer.velocity:
        assert np.array_equal(unbroken.optimizer.velocity[name], resumed.optimizer.velocity[name])
    for column in ("epoch", "train_loss", "val_error", "lr"):
        assert unbroken.history[column] == resumed.history[column], column
    assert_same_kept_model(unbroken, resumed)


def assert_same_kept_model(a, b):
    assert (
        a.progress.best_epoch == b.progress.best_epoch
        and a.progress.best_val_error == b.progress.best_val_error
    )
    for name, value in a.kept_model().params.items():
        assert np.array_equal(value, b.kept_model().params[name]), name


@pytest.fixture
def scripted_val_errors(monkeypatch):
    """Validation errors given in advance, one per epoch, so the best epoch is known."""
    import ddse_np.training.trainer as train_module

    def script(errors):
        it = iter(errors)
        monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"error": next(it)})

    return script


# stopped in epoch 2 (best so far), in epoch 3 (after a worse one), and at the end of epoch 3 (the
# worse one: the saved model is epoch 2's, not the current one)
@pytest.mark.parametrize("steps", [17, 29, 36])
def test_keep_best_resumes_bit_exact_when_the_best_epoch_is_not_the_last(
    tmp_path, mnist_small, scripted_val_errors, steps
):
    config = dict(SMALL, epochs=4, patience=5, seed=2)
    scripted_val_errors([4.0, 3.0, 5.0, 3.5])
    unbroken = Trainer.start(mnist_small, TrainConfig(**config))
    unbroken.run()
    assert unbroken.progress.best_epoch == 2
    scripted_val_errors([4.0, 3.0, 5.0, 3.5])
    resumed = interrupted_then_resumed(tmp_path, mnist_small, TrainConfig(**config), steps)
    assert_same_kept_model(unbroken, resumed)
    for name, value in unbroken.model.params.items():
        assert np.array_equal(value, resumed.model.params[name]), name


def test_cli_resume_extends_a_finished_run(tmp_path):
    args = ["--m", "16", "--train-fraction", "0.02", "--val-size", "300", "--quiet", "--seed", "2"]

    def run(*a):
        return CliRunner().invoke(cli, [str(x) for x in a])

    assert run("train", *args, "--epochs", "2", "--out", tmp_path / "straight.h5").exit_code == 0
    assert run("train", *args, "--epochs", "1", "--out", tmp_path / "part.h5").exit_code == 0
    result = run("train", "--resume", tmp_path / "part.h5", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    (a, ea), (b, eb) = load(tmp_path / "straight.h5"), load(tmp_path / "part.h5")
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    assert ea["history"]["val_error"] == eb["history"]["val_error"]


def test_cli_resume_refuses_changed_settings(tmp_path):
    def run(*a):
        return CliRunner().invoke(cli, [str(x) for x in a])

    args = [
        "--m",
        "16",
        "--train-fraction",
        "0.02",
        "--val-size",
        "300",
        "--quiet",
        "--epochs",
        "1",
    ]
    assert run("train", *args, "--out", tmp_path / "a.h5").exit_code == 0
    result = run("train", "--resume", tmp_path / "a.h5", "--lr", "0.5")
    assert result.exit_code == 1 and "--lr cannot change when resuming" in result.output


def test_resume_needs_training_state(tmp_path, mnist_small):
    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL))
    save(tmp_path / "bare.h5", trainer.model)  # no progress, no optimizer state
    with pytest.raises(DDSEError, match="no training state"):
        resume_run(tmp_path / "bare.h5", mnist_small)


def test_resume_refuses_changed_settings_but_extends_epochs(tmp_path, mnist_small):
    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL))
    box, stop = stop_after(5)
    box["trainer"] = trainer
    trainer.run(should_stop=stop)
    state, arrays = trainer.state()
    save(tmp_path / "run.h5", trainer.model, trainer.history, state, arrays)
    with pytest.raises(DDSEError, match="--batch-size cannot change when resuming"):
        resume_run(tmp_path / "run.h5", mnist_small, dict(batch_size=50, epochs=9))
    resumed = resume_run(tmp_path / "run.h5", mnist_small, dict(epochs=9))
    assert resumed.config.epochs == 9 and resumed.config.batch_size == SMALL["batch_size"]
    assert resumed.optimizer.state()["lr"] == trainer.optimizer.lr
    assert resumed.schedule.state() == trainer.schedule.state()


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, mnist_small):
    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL))
    box, stop = stop_after(12)
    box["trainer"] = trainer
    trainer.run(should_stop=stop)  # one good epoch
    state, arrays = trainer.state()
    save(tmp_path / "good.h5", trainer.model, trainer.history, state, arrays)
    before = (tmp_path / "good.h5").read_bytes()
    trainer.optimizer.lr = 1e12  # a diverging learning rate
    with pytest.raises(NumericalFault, match=r"at step 1[3-9]|at step [2-9]\d"):
        trainer.run()
    assert (tmp_path / "good.h5").read_bytes() == before
    load(tmp_path / "good.h5")


def test_cli_diverging_lr_is_one_line_and_writes_nothing(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--m",
            "16",
            "--train-fraction",
            "0.02",
            "--val-size",
            "300",
            "--quiet",
            "--lr",
            "1e12",
            "--out",
            str(tmp_path / "x.h5"),
        ],
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "became" in lines[0] and "at step" in lines[0]
    assert "no checkpoint was written" in lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_a_pre_release_training_state_is_refused_in_one_line_and_its_model_still_loads(
    tmp_path, mnist_small
):
    """Pre-releases of 0.1.0 stored the lr at the top of /train and had no --keep; their training
    state is not resumed (no committed file needs it), with one line saying so."""
    import json

    import h5py

    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL, keep="last", seed=5))
    box, stop = stop_after(7)
    box["trainer"] = trainer
    trainer.run(should_stop=stop)
    trainer.save(tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "a") as f:
        attrs = f["train"].attrs
        optimizer = json.loads(attrs["optimizer"])
        del attrs["optimizer"]
        attrs["lr"] = json.dumps(optimizer["lr"])
    from conftest import reseal

    reseal(tmp_path / "old.h5")  # as the pre-release wrote it: whole
    with pytest.raises(DDSEError, match="made by a pre-release of ddse-np 0.1.0"):
        resume_run(tmp_path / "old.h5", mnist_small)
    assert load(tmp_path / "old.h5")[0].params.keys() == trainer.model.params.keys()


def test_resume_continues_on_the_data_it_started_on(tmp_path, monkeypatch):
    from conftest import write_mnist_dir

    data = write_mnist_dir(tmp_path / "mine", n_train=600, n_test=100)
    other = write_mnist_dir(tmp_path / "other", n_train=600, n_test=100, seed=9)

    def run(*a):
        return CliRunner().invoke(cli, [str(x) for x in a])

    args = ["--m", "16", "--val-size", "100", "--quiet", "--seed", "2", "--batch-size", "50"]
    assert (
        run(
            "train", *args, "--data", data, "--epochs", "2", "--out", tmp_path / "straight.h5"
        ).exit_code
        == 0
    )
    assert (
        run(
            "train", *args, "--data", data, "--epochs", "1", "--out", tmp_path / "part.h5"
        ).exit_code
        == 0
    )
    # neither the environment nor the bundled data may take over
    monkeypatch.setenv("DDSE_DATA", str(other))
    result = run("train", "--resume", tmp_path / "part.h5", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    (a, _), (b, extras) = load(tmp_path / "straight.h5"), load(tmp_path / "part.h5")
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    assert extras["train"]["data"]["directory"] == str(data.resolve())
    refused = run("train", "--resume", tmp_path / "part.h5", "--epochs", "3", "--data", other)
    assert (
        refused.exit_code == 1
        and "are not the ones" in refused.output
        and "sha256" in refused.output
    )
    assert str(data.resolve()) in refused.output
