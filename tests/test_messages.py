"""Messages that point at the real fix, and notes where a command would otherwise say nothing."""

import warnings

import pytest

from ddse_np import __version__

from clitools import one_line_error, run


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag(flag):
    result = run(flag)
    assert result.exit_code == 0 and result.output == f"ddse {__version__}\n"


def test_too_large_a_validation_split_names_the_option_that_can_change(tmp_path):
    line = one_line_error(run("train", "--val-size", "59999", "--out", tmp_path / "a.h5"), 1)
    assert line == (
        "error: only 1 training example(s) left: lower --val-size (59999 of the 60000 training "
        "examples are held out for validation)"
    )
    line = one_line_error(
        run("train", "--train-fraction", "0.00001", "--out", tmp_path / "a.h5"), 1
    )
    assert line.endswith("raise --train-fraction")


def test_export_onto_an_existing_file_names_its_own_argument(trained, tmp_path):
    path, _ = trained
    target = tmp_path / "b.h5"
    target.write_bytes(b"keep me")
    line = one_line_error(run("export", path, target), 1)
    assert line == f"error: {target} exists: pass --overwrite to replace it, or choose another OUT"
    assert target.read_bytes() == b"keep me"


def test_augment_preview_without_augmentation_says_so(tmp_path):
    result = run("augment-preview", "--out", tmp_path / "a.png", "--count", "2", "--rows", "1")
    assert result.exit_code == 0 and "note: every augmentation strength is 0" in result.output
    result = run(
        "augment-preview",
        "--out",
        tmp_path / "b.png",
        "--count",
        "2",
        "--rows",
        "1",
        "--aug-noise",
        "0.1",
    )
    assert result.exit_code == 0 and "note:" not in result.output


def test_a_ctrl_c_before_training_says_nothing_was_saved(tmp_path, monkeypatch):
    import ddse_np.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ddse_np.cli, "load_split", interrupted)  # a Ctrl-C while the data are read
    out = tmp_path / "a.h5"
    line = one_line_error(run("train", "--out", out), 130)
    assert line.startswith("error: interrupted before training began: nothing was saved yet")
    assert not out.exists()


def test_an_epoch_of_one_step_is_said(tmp_path):
    args = [
        "train",
        "--m",
        "12",
        "--k",
        "1",
        "--train-fraction",
        "0.01",
        "--val-size",
        "500",
        "--epochs",
        "1",
        "--quiet",
    ]
    result = run(*args, "--batch-size", "5000", "--out", tmp_path / "a.h5")
    assert result.exit_code == 0, result.output
    assert (
        "note: an epoch is 1 step: --batch-size 5000 covers all 595 training images"
        in result.output
    )
    result = run(*args, "--batch-size", "128", "--out", tmp_path / "b.h5")
    assert result.exit_code == 0 and "note:" not in result.output


def test_figures_titled_in_scripts_the_font_lacks_warn_of_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    from ddse_np.experiments.plots import learning_curves

    history = dict(epoch=[1, 2], train_loss=[1.0, 0.5], val_error=[9.0, 8.0], lr=[0.1, 0.1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        learning_curves(history, tmp_path / "曲線.png", "曲線.h5")
        import matplotlib.pyplot as plt

        figure = plt.figure()  # the user's own figures still warn: the filter is the module's own
        figure.suptitle("曲線")
        figure.savefig(tmp_path / "mine.png")
        plt.close(figure)
    assert (tmp_path / "曲線.png").exists()
    missing = [w for w in caught if "missing from" in str(w.message)]
    assert missing and all(w.filename.endswith("test_messages.py") for w in missing), [
        str(w.message) for w in caught
    ]


@pytest.mark.parametrize("fraction", ["0.5", "0.9", "1"])
def test_a_validation_split_that_leaves_nothing_names_val_size_at_any_train_fraction(
    tmp_path, fraction
):
    line = one_line_error(
        run(
            "train", "--val-size", "59999", "--train-fraction", fraction, "--out", tmp_path / "a.h5"
        ),
        1,
    )
    assert line.startswith("error: only 1 training example(s) left: lower --val-size"), line
