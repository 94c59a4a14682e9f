"""The command line through click's CliRunner: a small real run, then bad input of every kind."""

import json

import h5py
import numpy as np
import pytest

from ddse_np.backend import gpu_available
from ddse_np.cli import cli
from ddse_np.files.checkpoint import load

from clitools import SMALL, TINY_TRAIN, one_line_error, run
from conftest import write_mnist_dir


def test_train_writes_a_checkpoint_and_a_json_summary(trained):
    path, summary = trained
    assert summary["checkpoint"] == str(path) and summary["epochs"] == 1
    assert summary["config"]["m"] == 32 and summary["history"]["epoch"] == [1]
    assert 0 < summary["test_error"] < 30  # one epoch on 2,400 images learns; chance is 90
    model, extras = load(path)
    assert (
        model.config["s"] == 196
        and extras["history"]["val_error"] == summary["history"]["val_error"]
    )


def test_eval_reports_the_same_error_as_train(trained):
    path, summary = trained
    result = run("eval", path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["count"] == 10000
    assert np.isclose(report["error"], summary["test_error"])
    assert len(report["per_class_error"]) == 10
    assert np.isclose(np.mean(report["per_class_error"]), report["error"], atol=2.0)
    text = run("eval", path)
    assert text.exit_code == 0 and "test error" in text.output and "class" in text.output


def test_eval_in_float64(trained):
    path, summary = trained
    report = json.loads(run("eval", path, "--json", "--dtype", "float64").output)
    assert abs(report["error"] - summary["test_error"]) < 0.1


def test_inspect_reports_sparsity_counts_and_size(trained):
    path, _ = trained
    result = run("inspect", path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    names = [row["name"] for row in report["matrices"]]
    assert names == ["W1", "W2.1", "W3.1", "W2.2", "W3.2"]
    for row in report["matrices"]:
        assert row["max_per_line"] <= row["s"] == 196 and row["within_constraint"]
    counts = report["counts"]
    assert counts["paper_constrained"] == 5 * 196 * 32
    assert counts["dense_lista"] == 32 * 784 + 2 * 32 * 32
    assert counts["stored_nonzeros"] <= counts["paper_constrained"]
    assert report["file_bytes"] == path.stat().st_size
    assert 0.0 <= report["code_zero_fraction"] <= 1.0
    text = run("inspect", path)
    assert text.exit_code == 0 and "W3.2" in text.output and "(2k+1)*s*m" in text.output


def test_train_on_another_directory(tmp_path):
    data = write_mnist_dir(tmp_path / "d", n_train=200, n_test=50)
    out = tmp_path / "o.h5"
    result = run(
        "train",
        "--data",
        data,
        "--m",
        "8",
        "--val-size",
        "50",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "test error" in result.output and out.exists()
    assert run("eval", out, "--data", data).exit_code == 0


def test_existing_output_is_not_overwritten(trained, tmp_path):
    path, _ = trained
    before = path.read_bytes()
    line = one_line_error(run("train", *SMALL, "--out", path), 1)
    assert "--overwrite" in line and path.read_bytes() == before


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--sparsity", "1.5"], "--sparsity"),
        (["--sparsity", "0"], "--sparsity s/n must lie in"),
        (["--k", "0"], "--k"),
        (["--m", "0"], "--m"),
        (["--train-fraction", "0"], "--train-fraction"),
        (["--train-fraction", "1.5"], "--train-fraction"),
        (["--lr", "-0.1"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--backend", "tpu"], "'tpu' is not one of"),
        (["--model", "resnet"], "'resnet' is not one of"),
        (["--momentum", "1.5"], "--momentum"),
        (["--patience", "0"], "--patience"),
        (["--m", "many"], "'many' is not a valid integer"),
    ],
)
def test_bad_options(tmp_path, args, fragment):
    line = one_line_error(run("train", "--out", tmp_path / "x.h5", *args), None)
    assert fragment in line
    assert not (tmp_path / "x.h5").exists()


def test_missing_data_directory(tmp_path):
    line = one_line_error(
        run("train", "--data", tmp_path / "nowhere", "--out", tmp_path / "x.h5"), 1
    )
    assert "does not exist" in line


def test_corrupt_and_foreign_checkpoints(tmp_path, trained):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 300)
    assert "not a readable ddse checkpoint" in one_line_error(run("eval", junk), 1)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["weights"] = np.ones(3)
    assert "not a ddse checkpoint" in one_line_error(run("inspect", foreign), 1)
    assert "does not exist" in one_line_error(run("eval", tmp_path / "absent.h5"), 1)
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(trained[0].read_bytes()[:5000])
    one_line_error(run("eval", truncated), 1)


def test_unknown_command_and_option():
    assert "No such command" in one_line_error(run("fly"), 2)
    assert "No such option" in one_line_error(run("eval", "x.h5", "--colour"), 2)


@pytest.mark.skipif(gpu_available(), reason="a GPU is present")
def test_cupy_without_gpu(tmp_path, trained):
    line = one_line_error(run("train", "--backend", "cupy", "--out", tmp_path / "x.h5"), 1)
    assert "cupy" in line
    line = one_line_error(run("eval", trained[0], "--backend", "cupy"), 1)
    assert "cupy" in line


def test_output_that_is_a_directory(tmp_path):
    (tmp_path / "d.h5").mkdir()
    args = ["--m", "8", "--train-fraction", "0.01", "--val-size", "100", "--epochs", "1", "--quiet"]
    line = one_line_error(run("train", *args, "--out", tmp_path / "d.h5", "--overwrite"), 1)
    assert "is a directory" in line


def test_checkpoint_of_another_input_size(tmp_path):
    from ddse_np.files.checkpoint import save
    from ddse_np.nn.models import DDSE

    model = DDSE.create(10, 12, 1, 3)
    model.set_pca(np.zeros(10), np.eye(10))
    save(tmp_path / "small.h5", model)
    assert "n = 10" in one_line_error(run("eval", tmp_path / "small.h5"), 1)


def test_same_seed_gives_an_identical_checkpoint(tmp_path):
    args = [
        "--m",
        "16",
        "--train-fraction",
        "0.02",
        "--val-size",
        "300",
        "--epochs",
        "2",
        "--quiet",
        "--seed",
        "5",
    ]
    for name in ("a.h5", "b.h5"):
        assert run("train", *args, "--out", tmp_path / name).exit_code == 0
    (a, ea), (b, eb) = load(tmp_path / "a.h5"), load(tmp_path / "b.h5")
    assert a.config == b.config and ea["train"] == eb["train"]
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    assert np.array_equal(a.basis, b.basis)
    for column in ("train_loss", "val_error", "lr"):
        assert ea["history"][column] == eb["history"][column]


@pytest.mark.parametrize("model", ["fc", "fc-dropout", "fc-dropconnect", "lista", "ddse-noskip"])
def test_every_baseline_trains_evaluates_and_inspects(tmp_path, model):
    out = tmp_path / f"{model}.h5"
    result = run(
        "train",
        "--model",
        model,
        "--m",
        "32",
        "--train-fraction",
        "0.05",
        "--val-size",
        "300",
        "--epochs",
        "2",
        "--quiet",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["model"] == model and summary["test_error"] < 70  # chance is 90
    report = json.loads(run("eval", out, "--json").output)
    assert np.isclose(report["error"], summary["test_error"])
    inspected = json.loads(run("inspect", out, "--json").output)
    assert inspected["config"]["model"] == model
    assert inspected["counts"]["total_parameters"] > 0
    assert bool(inspected["matrices"]) == (model == "ddse-noskip")


def test_inspect_plots_learning_curves(trained, tmp_path):
    png = tmp_path / "curves.png"
    result = run("inspect", trained[0], "--plot", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_augment_preview_writes_a_png(tmp_path):
    png = tmp_path / "aug.png"
    result = run(
        "augment-preview", "--out", png, "--count", "3", "--rows", "2", "--aug-rotate", "20"
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "--aug-noise" in one_line_error(
        run("augment-preview", "--aug-noise", "-1", "--out", png), 1
    )


def test_augmentation_setting_is_saved(tmp_path):
    out = tmp_path / "aug.h5"
    result = run(
        "train",
        *TINY_TRAIN,
        "--aug-rotate",
        "10",
        "--aug-noise",
        "0.05",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    _, extras = load(out)
    assert (
        extras["train"]["config"]["aug_rotate"] == 10
        and extras["train"]["config"]["aug_noise"] == 0.05
    )


def test_sparse_and_dense_evaluation_agree(trained):
    path, _ = trained
    dense = json.loads(run("eval", path, "--json", "--sparse", "off").output)
    sparse = json.loads(run("eval", path, "--json", "--sparse", "on", "--batch-size", "500").output)
    assert sparse["sparse_products"] and not dense["sparse_products"]
    assert (
        sparse["error"] == dense["error"] and sparse["per_class_error"] == dense["per_class_error"]
    )
    assert np.isclose(sparse["loss"], dense["loss"], rtol=1e-5)


def test_sparse_on_for_a_dense_model(tmp_path):
    out = tmp_path / "fc.h5"
    assert (
        run(
            "train",
            "--model",
            "fc",
            "--m",
            "8",
            "--train-fraction",
            "0.01",
            "--val-size",
            "100",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            out,
        ).exit_code
        == 0
    )
    assert "no sparse matrices" in one_line_error(run("eval", out, "--sparse", "on"), 1)
    assert run("eval", out, "--sparse", "auto").exit_code == 0


def test_export_drops_the_training_state(trained, tmp_path):
    path, _ = trained
    out = tmp_path / "slim.h5"
    result = run("export", path, out)
    assert result.exit_code == 0, result.output
    (a, ea), (b, eb) = load(path), load(out)
    assert "velocity" in ea["resume"] and eb["resume"] == {}
    assert out.stat().st_size < path.stat().st_size
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name])
    assert "exists" in one_line_error(run("export", path, out), 1)
    assert "no training state" in one_line_error(run("train", "--resume", out), 1)


def test_train_options_are_made_from_the_config_fields():
    from ddse_np.training.config import TrainConfig

    params = {p.name: p for p in cli.commands["train"].params}
    for name, field in TrainConfig.fields().items():
        assert params[name].default == field.default, name
        if field.metadata["choices"]:
            assert tuple(params[name].type.choices) == field.metadata["choices"], name
    assert params["model"].type.choices[0] == "ddse" and "random" in params["init"].type.choices


@pytest.mark.parametrize(
    "name, raw, value",
    [
        ("lr", ".05", 0.05),
        ("lr", "1e-3", 1e-3),
        ("m", "64", 64),
        ("model", "lista", "lista"),
        ("sparsity", ".25", 0.25),
    ],
)
def test_settings_parse_as_numbers(name, raw, value):
    from ddse_np.training.config import TrainConfig

    assert TrainConfig.parse(name, raw) == value and type(TrainConfig.parse(name, raw)) is type(
        value
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--set", "lr=.05x"], "setting lr: '.05x' is not a float"),
        (["--set", "m=1.5"], "setting m: '1.5' is not an int"),
        (["--set", "colour=3"], "unknown training setting 'colour'"),
        (["--values", ".1,x"], "setting sparsity: 'x' is not a float"),
    ],
)
def test_sweep_refuses_values_that_are_not_numbers(tmp_path, args, fragment):
    result = run("sweep", "sparsity", *args, "--out", tmp_path / "sweep")
    assert fragment in one_line_error(result, 1)
    assert not (tmp_path / "sweep").exists()
