"""The learning-rate schedules: the fixed step schedule beside the plateau one."""

import json

import pytest
from click.testing import CliRunner

from ddse_np.cli import cli
from ddse_np.errors import DDSEError
from ddse_np.training.config import TrainConfig
from ddse_np.training.optim import StepSchedule, drop_epochs, parse_drops
from ddse_np.training.resume import resume_run
from ddse_np.training.trainer import Trainer

SMALL = dict(m=16, k=1, val_size=200, batch_size=100, project_every=4)


def test_step_schedule_drops_after_the_given_fractions_of_the_run():
    schedule = StepSchedule(0.05, 0.1, (0.5, 0.75), 100)
    assert schedule.drop_epochs == (50, 75)
    lrs = [schedule.update(epoch) for epoch in range(1, 101)]  # the lr of epochs 2..101
    assert lrs[:49] == [0.05] * 49 and lrs[49] == pytest.approx(0.005)  # after epoch 50
    assert lrs[73] == pytest.approx(0.005) and lrs[74] == pytest.approx(0.0005)  # after epoch 75
    assert lrs[-1] == pytest.approx(0.0005)
    assert drop_epochs((0.5, 0.75), 3) == [2, 2]  # a short run: both drops after epoch 2


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "no fractions"),
        ("0.5,x", "not a comma-separated"),
        ("0.5,1", "in (0, 1)"),
        ("0,0.5", "in (0, 1)"),
        ("0.75,0.5", "increase"),
        ("0.5,0.5", "increase"),
        ("nan", "(0, 1)"),
    ],
)
def test_bad_drop_fractions_are_refused_in_words(text, why):
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse_drops(text)
    with pytest.raises(DDSEError, match="^--lr-drops: "):
        TrainConfig(schedule="step", lr_drops=text).validate()


def test_a_step_schedule_run_trains_every_epoch_at_the_scheduled_rates(mnist_small):
    # patience 1 and a min_lr above the second drop would end a plateau run early: the step
    # schedule ignores both
    config = TrainConfig(
        **SMALL, epochs=4, lr=0.05, schedule="step", lr_drops="0.5,0.75", patience=1, min_lr=1e-3
    )
    trainer = Trainer.start(mnist_small, config)
    assert trainer.run() is True
    assert trainer.history["epoch"] == [1, 2, 3, 4] and not trainer.progress.schedule_ended
    assert trainer.history["lr"] == pytest.approx([0.05, 0.05, 0.005, 0.0005])


def test_resuming_a_step_schedule_run_keeps_its_epochs(tmp_path, mnist_small):
    config = TrainConfig(**SMALL, epochs=2, schedule="step")
    trainer = Trainer.start(mnist_small, config)
    trainer.run()
    trainer.save(tmp_path / "run.h5")
    with pytest.raises(
        DDSEError, match="--epochs cannot change when resuming a run on the step schedule"
    ):
        resume_run(tmp_path / "run.h5", mnist_small, {"epochs": 4})
    assert resume_run(tmp_path / "run.h5", mnist_small, {"epochs": 2}).finished


def test_cli_records_the_schedule_in_the_checkpoint_and_json(tmp_path, tiny_mnist):
    from ddse_np.files.checkpoint import load

    out = tmp_path / "step.h5"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(tiny_mnist),
            "--out",
            str(out),
            "--m",
            "16",
            "--k",
            "1",
            "--epochs",
            "2",
            "--val-size",
            "100",
            "--schedule",
            "step",
            "--lr-drops",
            "0.5",
            "--lr",
            "0.02",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["config"]["schedule"] == "step" and summary["config"]["lr_drops"] == "0.5"
    assert [round(x, 6) for x in summary["history"]["lr"]] == [0.02, 0.002]
    _, extras = load(out)
    assert extras["train"]["config"]["schedule"] == "step"
    assert extras["train"]["schedule"]["drop_epochs"] == [1]
    bad = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(tiny_mnist),
            "--out",
            str(tmp_path / "b.h5"),
            "--schedule",
            "step",
            "--lr-drops",
            "0.8,0.2",
        ],
    )
    assert bad.exit_code != 0 and "--lr-drops" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "b.h5").exists()


def test_train_says_when_the_plateau_schedule_ended_the_run_early(tmp_path):
    from ddse_np.files.checkpoint import load

    from clitools import TINY_TRAIN

    out = tmp_path / "p.h5"
    args = ["train", *TINY_TRAIN, "--out", str(out), "--patience", "1", "--min-lr", "0.01"]
    result = CliRunner().invoke(cli, [*args, "--epochs", "30"])
    assert result.exit_code == 0, result.output
    epochs = len(load(out)[1]["history"]["epoch"])
    assert epochs < 30  # ended by the first drop of the rate below --min-lr
    assert f"the plateau schedule ended the run at epoch {epochs} of 30" in result.output
    # a run that trains all its epochs (here "--epochs 1", any schedule) says no such thing
    ran_out = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert ran_out.exit_code == 0 and "schedule ended" not in ran_out.output
