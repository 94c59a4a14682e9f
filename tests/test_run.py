"""The one training path (ddse_np.training.run): saves as its policy says, reports faults and stops
as results, tests the kept model."""

import numpy as np
import pytest

from ddse_np.files.checkpoint import load
from ddse_np.training.run import SavePolicy, run_training
from ddse_np.training.trainer import NumericalFault, TrainConfig, Trainer

SMALL = dict(m=16, k=1, val_size=300, batch_size=100, project_every=4)


def test_a_run_saves_by_epochs_and_at_the_end_and_tests_the_kept_model(tmp_path, mnist_small):
    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL, epochs=5))
    result = run_training(
        trainer, mnist_small.take(slice(0, 200)), SavePolicy(tmp_path / "r.h5", every_epochs=2)
    )
    assert result.finished and result.fault is None and result.saved == [2, 4, 5]
    assert load(tmp_path / "r.h5")[1]["train"]["progress"]["epoch"] == 5
    assert result.test["count"] == 200 and result.kept == "best"
    best = trainer.history["val_error"].index(min(trainer.history["val_error"])) + 1
    assert trainer.progress.best_epoch == best and np.array_equal(
        result.model.params["W1"], trainer.kept_model().params["W1"]
    )


def test_a_stopped_run_saves_where_it_stopped_and_a_failed_save_can_be_noted(tmp_path, mnist_small):
    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL, epochs=5))
    result = run_training(
        trainer,
        None,
        SavePolicy(tmp_path / "r.h5"),
        should_stop=lambda: trainer.progress.step >= 15,
    )
    assert not result.finished and result.stop_saved and result.test is None
    assert load(tmp_path / "r.h5")[1]["train"]["progress"]["step"] == 15
    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL, epochs=2))
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the checkpoint's directory should be
    result = run_training(
        trainer, None, SavePolicy(blocked / "r.h5", every_epochs=1, keep_going=True)
    )
    # tried once, then not again
    assert result.finished and result.saved == [] and len(result.notes) == 1
    with pytest.raises(OSError):
        run_training(
            Trainer.start(mnist_small, TrainConfig(**SMALL, epochs=1)),
            None,
            SavePolicy(blocked / "r.h5"),
        )


def test_a_numerical_fault_is_a_result(mnist_small):
    trainer = Trainer.start(mnist_small, TrainConfig(**SMALL, epochs=3, lr=1e6))
    result = run_training(trainer)
    assert not result.finished and isinstance(result.fault, NumericalFault) and result.saved == []


@pytest.mark.parametrize("bad", [-1, 10])
def test_labels_outside_the_classes_are_refused_before_training(mnist_small, bad):
    """Checked once here, so that the training loop need not check every batch (on cupy that
    would wait for the device at every step); -1 would otherwise train as the last class."""
    from ddse_np.data.split import Split
    from ddse_np.errors import DDSEError

    labels = mnist_small.labels.copy()
    labels[7] = bad
    broken = Split(mnist_small.images, labels, mnist_small.classes)
    with pytest.raises(DDSEError, match=r"training labels must be integers in 0\.\.9"):
        Trainer.start(broken, TrainConfig(**SMALL, epochs=1))
    floats = Split(mnist_small.images, mnist_small.labels.astype(float), mnist_small.classes)
    with pytest.raises(DDSEError, match="training labels must be integers"):
        Trainer.start(floats, TrainConfig(**SMALL, epochs=1))
