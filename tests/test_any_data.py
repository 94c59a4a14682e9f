"""Training on any data: .npz files of vectors or images of any size, labels of any names
(ddse_np/data/npz.py, docs/guide.md "Your own data"); every command follows the data."""

import json

import numpy as np
import pytest

from ddse_np.data.npz import TEST_FRACTION, load_npz
from ddse_np.data.pca import fit_pca
from ddse_np.errors import DDSEError
from ddse_np.files.checkpoint import load

from clitools import one_line_error, run

SMALL = ["--m", "16", "--epochs", "2", "--quiet", "--lr", "0.05"]


def vectors(tmp_path, name="vec.npz", n=6, N=240, test=True, seed=0):
    """Three classes named by strings, separable along the features."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, N)
    X = rng.standard_normal((N, n)) + 1.5 * y[:, None]
    labels = np.array(["cat", "dog", "emu"])[y]
    path = tmp_path / name
    if test:
        np.savez(path, X_train=X[:200], y_train=labels[:200], X_test=X[200:], y_test=labels[200:])
    else:
        np.savez(path, X_train=X, y_train=labels)
    return path


def images(tmp_path, shape=(12, 10), N=200, seed=0):
    """uint8 images of two classes (labels 3 and 8): class 8 has a dark top half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, N)
    X = (rng.random((N, *shape)) * 255).astype(np.uint8)
    X[y == 1, : shape[0] // 2] //= 4
    path = tmp_path / "img.npz"
    np.savez(path, X_train=X[:160], y_train=3 + 5 * y[:160], X_test=X[160:], y_test=3 + 5 * y[160:])
    return path


def test_vectors_with_string_labels_train_and_eval(tmp_path):
    data = vectors(tmp_path)
    out = tmp_path / "vec.h5"
    result = run("train", "--data", data, "--val-size", "40", "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    model, extras = load(out)
    assert model.class_names == ("cat", "dog", "emu")
    assert model.input_shape == (6,) and model.inputs == 6 and model.input_divisor == 1.0
    assert extras["train"]["data"]["directory"] == str(data.resolve())
    evaluated = run("eval", out, "--json")  # --data: the file the checkpoint recorded
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    assert report["count"] == 40 and len(report["per_class_error"]) == 3
    assert report["classes"] == ["cat", "dog", "emu"]
    assert report["error"] < 20  # three well separated classes
    table = run("eval", out, "--data", data)
    assert "cat" in table.output and "emu" in table.output


def test_images_of_another_size_with_augmentation_and_atoms(tmp_path):
    data = images(tmp_path)
    out, atoms = tmp_path / "img.h5", tmp_path / "atoms.png"
    result = run(
        "train", "--data", data, "--val-size", "20", "--aug-rotate", "10", "--aug-elastic", "5",
        "--out", out, *SMALL,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model, _ = load(out)
    assert model.input_shape == (12, 10) and model.class_names == (3, 8)
    assert model.input_divisor == 255.0  # uint8: pixels
    inspected = run("inspect", out, "--atoms", atoms)
    assert inspected.exit_code == 0, inspected.output
    assert atoms.stat().st_size > 0
    from ddse_np.experiments.report import dictionary_atoms

    assert dictionary_atoms(model).shape == (16, 12, 10)


def test_atoms_and_augmentation_are_refused_for_vectors(tmp_path):
    data = vectors(tmp_path)
    line = one_line_error(run("train", "--data", data, "--aug-rotate", "5", *SMALL))
    assert "augmentation (--aug-*) needs images" in line
    out = tmp_path / "vec.h5"
    assert run("train", "--data", data, "--val-size", "40", "--out", out, *SMALL).exit_code == 0
    line = one_line_error(run("inspect", out, "--atoms", tmp_path / "a.png"))
    assert "vectors of 6 features" in line and not (tmp_path / "a.png").exists()


def test_without_a_test_set_a_stratified_seeded_split_is_made_and_recorded(tmp_path):
    data = vectors(tmp_path, test=False)
    train, test = load_npz(data, "train"), load_npz(data, "test")
    assert len(test) == round(TEST_FRACTION * 240) and len(train) + len(test) == 240
    counts = np.bincount(test.labels) / len(test)
    assert np.allclose(counts, np.bincount(train.labels) / len(train), atol=0.05)
    from ddse_np.data.npz import _read

    _read.cache_clear()  # read the file again: the same split every time
    assert np.array_equal(load_npz(data, "test").images, test.images)
    out = tmp_path / "m.h5"
    assert run("train", "--data", data, "--val-size", "40", "--out", out, *SMALL).exit_code == 0
    recorded = load(out)[1]["train"]["data"]
    assert recorded["test_split"] == dict(fraction=TEST_FRACTION, seed=0)


def test_more_features_than_examples_gives_the_pca_of_rank_n_minus_1(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 300)), np.repeat([0, 1], 25)
    mean, basis, eigenvalues = fit_pca(X)
    assert basis.shape == (300, 49) and np.allclose(basis.T @ basis, np.eye(49))
    centred = X - mean
    assert np.allclose(centred @ basis @ basis.T, centred)  # spans the centred data
    path = tmp_path / "wide.npz"
    np.savez(path, X_train=X, y_train=y)
    out = tmp_path / "wide.h5"
    assert run("train", "--data", path, "--val-size", "8", "--out", out, *SMALL).exit_code == 0
    model, _ = load(out)
    fit = len(load_npz(path, "train")) - 8
    assert model.config["n"] == fit - 1 and model.inputs == 300
    assert model.params["W1"].shape == (16, fit - 1)


def test_one_feature_and_uint8_vectors(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 120)
    X = (100 * y[:, None] + rng.integers(0, 50, (120, 1))).astype(np.uint8)
    path = tmp_path / "one.npz"
    np.savez(path, X_train=X, y_train=y)
    out = tmp_path / "one.h5"
    result = run("train", "--data", path, "--val-size", "20", "--out", out, *SMALL, "--json")
    assert result.exit_code == 0, result.output
    model, _ = load(out)
    assert model.config["n"] == 1 and model.config["s"] == 1 and model.input_divisor == 255.0


def test_floats_are_never_rescaled(tmp_path):
    from ddse_np.data.split import flatten, input_divisor

    X = np.array([[0.0, 200.0]])
    assert input_divisor(X) == 1.0 and flatten(X, "float64", input_divisor(X))[0, 1] == 200.0
    assert input_divisor(X.astype(np.uint8)) == 255.0


def test_resume_on_an_npz_file_is_exact(tmp_path):
    data = vectors(tmp_path)
    straight, resumed = tmp_path / "a.h5", tmp_path / "b.h5"
    common = ["--data", data, "--val-size", "40", "--m", "16", "--quiet", "--lr", "0.05"]
    assert run("train", *common, "--epochs", "3", "--out", straight).exit_code == 0
    assert run("train", *common, "--epochs", "2", "--out", resumed).exit_code == 0
    assert (
        run("train", "--resume", resumed, "--epochs", "3", "--out", resumed, "--quiet").exit_code
        == 0
    )
    a, b = load(straight)[0], load(resumed)[0]
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_compare_and_sweep_on_an_npz_file(tmp_path):
    data = vectors(tmp_path)
    outs = [tmp_path / "a.h5", tmp_path / "b.h5"]
    for seed, out in enumerate(outs):
        args = ("train", "--data", data, "--val-size", "40", "--seed", seed, "--out", out)
        assert run(*args, *SMALL).exit_code == 0
    compared = run("compare", *outs, "--json")
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.output)["count"] == 40
    swept = run(
        "sweep", "depth", "--values", "1", "--methods", "ddse,fc", "--seeds", "1", "--budget",
        "quick", "--set", "epochs=1", "--set", "val_size=40", "--set", "m=16", "--set",
        "train_fraction=1", "--data", data, "--out", tmp_path / "sweep",
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    rows = (tmp_path / "sweep" / "results.jsonl").read_text().splitlines()
    assert len(rows) == 2 and all(json.loads(r)["test_error"] is not None for r in rows)


TRAIN = dict(X_train=np.zeros((4, 2)), y_train=[0, 1, 0, 1])
BAD = [
    ("missing", dict(X_train=np.zeros((4, 2))), "no y_train array"),
    ("counts", dict(X_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0])), "4 examples but"),
    ("one class", dict(X_train=np.zeros((4, 2)), y_train=np.zeros(4, int)), "one class only"),
    ("nan", dict(X_train=np.array([[0.0, np.nan]] * 4), y_train=[0, 1, 0, 1]), "NaN or infinity"),
    ("inf", dict(X_train=np.array([[0.0, np.inf]] * 4), y_train=[0, 1, 0, 1]), "NaN or infinity"),
    ("ragged", dict(X_train=np.array([[1, 2], [3]], dtype=object), y_train=[0, 1]), "not a plain"),
    ("float labels", dict(X_train=np.zeros((4, 2)), y_train=[0.5, 1, 0, 1]), "integers or strings"),
    ("4-d", dict(X_train=np.zeros((4, 2, 2, 2)), y_train=[0, 1, 0, 1]), "N x n vectors or N x H"),
    ("text inputs", dict(X_train=np.array([["a"]] * 4), y_train=[0, 1, 0, 1]), "must be numbers"),
    (
        "test features",
        dict(TRAIN, X_test=np.zeros((2, 3)), y_test=[0, 1]),
        "X_test has inputs of shape 3, X_train of 2",
    ),
    (
        "test labels",
        dict(TRAIN, X_test=np.zeros((2, 2)), y_test=[0, 5]),
        "y_test holds class 5",
    ),
    ("half test", dict(TRAIN, X_test=np.zeros((2, 2))), "X_test without y_test"),
]  # fmt: skip


@pytest.mark.parametrize("case, arrays, message", BAD, ids=[case for case, _, _ in BAD])
def test_bad_data_ends_in_one_line_naming_the_file(tmp_path, case, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DDSEError, match=message) as info:
        load_npz(path, "train")
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    line = one_line_error(run("train", "--data", path, *SMALL))
    assert message.split()[0] in line


def test_unreadable_and_missing_files(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable .npz file" in one_line_error(run("train", "--data", broken, *SMALL))
    missing = tmp_path / "none.npz"
    assert "does not exist" in one_line_error(run("train", "--data", missing, *SMALL))
    other = tmp_path / "data.csv"
    other.write_text("1,2\n")
    assert "directory of MNIST-format files or an .npz" in one_line_error(
        run("train", "--data", other, *SMALL)
    )


def test_eval_refuses_data_of_other_classes_or_features(tmp_path):
    out = _trained_vectors(tmp_path)
    rng = np.random.default_rng(0)
    wrong_classes = tmp_path / "classes.npz"
    np.savez(wrong_classes, X_train=rng.random((10, 6)), y_train=["cat", "yak"] * 5)
    assert "class 'yak' is not one of the model's 3 classes" in one_line_error(
        run("eval", out, "--data", wrong_classes)
    )
    wrong_features = tmp_path / "features.npz"
    np.savez(wrong_features, X_train=rng.random((10, 5)), y_train=["cat", "dog"] * 5)
    assert "takes inputs of n = 6 features" in one_line_error(
        run("eval", out, "--data", wrong_features)
    )


def test_a_single_array_saved_as_npz_and_an_upper_case_suffix(tmp_path):
    path = tmp_path / "plain.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((4, 2)))
    assert "holds a single array (.npy)" in one_line_error(run("train", "--data", path, *SMALL))
    upper = tmp_path / "DATA.NPZ"
    vectors(tmp_path).rename(upper)
    assert len(load_npz(upper, "test")) == 40


def test_checkpoints_without_the_data_entries_are_mnist_models(tmp_path, mnist_small):
    """Checkpoints written before models knew their data: 28 x 28 uint8 pixels, classes 0..9."""
    import h5py

    from conftest import reseal

    out = tmp_path / "m.h5"
    assert run("train", "--out", out, "--m", "16", "--train-fraction", "0.04", "--val-size",
               "500", "--epochs", "1", "--quiet").exit_code == 0  # fmt: skip
    with h5py.File(out, "r+") as f:
        config = json.loads(f.attrs["config"])
        for key in ("inputs", "input_shape", "input_divisor", "class_names"):
            del config[key]
        f.attrs["config"] = json.dumps(config)
    reseal(out)
    model, _ = load(out)
    assert model.input_shape == (28, 28) and model.class_names == tuple(range(10))
    assert run("eval", out).exit_code == 0
    with h5py.File(out, "r+") as f:
        f.attrs["config"] = json.dumps(dict(config, class_names=["a", "b"]))
    reseal(out)
    assert "class_names do not name 10 classes" in one_line_error(run("eval", out))


def test_eval_needs_data_when_the_recorded_file_is_gone_and_export_keeps_it(tmp_path):
    data = vectors(tmp_path)
    out, exported = tmp_path / "m.h5", tmp_path / "e.h5"
    assert run("train", "--data", data, "--val-size", "40", "--out", out, *SMALL).exit_code == 0
    assert run("export", out, exported).exit_code == 0
    assert run("eval", exported).exit_code == 0  # the export keeps the data's record
    data.rename(tmp_path / "moved.npz")
    line = one_line_error(run("eval", out))
    assert "is gone: give --data" in line and str(data) in line
    assert run("eval", out, "--data", tmp_path / "moved.npz").exit_code == 0


def test_a_test_split_need_not_hold_every_class_of_its_file(tmp_path):
    """Only the classes of the examples being judged must be the model's."""
    out = _trained_vectors(tmp_path)
    rng = np.random.default_rng(0)
    other = tmp_path / "other.npz"
    labels = np.array(["cat", "dog", "yak"] * 4)
    np.savez(other, X_train=rng.random((12, 6)), y_train=labels, X_test=rng.random((4, 6)),
             y_test=np.array(["dog", "cat", "cat", "dog"]))  # fmt: skip
    assert run("eval", out, "--data", other).exit_code == 0


def test_floats_given_to_a_model_of_uint8_pixels_are_refused(tmp_path):
    model, _ = load(_trained_images(tmp_path))
    with pytest.raises(DDSEError, match="trained on uint8 pixels .* float64"):
        model.preprocess(np.zeros((2, 12, 10)))


def test_the_sigmas_are_bounded_by_the_images_size(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npz"
    y = rng.integers(0, 2, 60)
    np.savez(path, X_train=(rng.random((60, 40, 40)) * 255).astype(np.uint8), y_train=y)
    args = ("train", "--data", path, "--val-size", "10", "--aug-blur", "30", "--out",
            tmp_path / "b.h5", *SMALL)  # fmt: skip
    assert run(*args).exit_code == 0  # 30 pixels: allowed on 40 x 40, not on MNIST's 28 x 28
    assert "at most 28" in one_line_error(run("train", "--aug-blur", "30", *SMALL))


def _trained_vectors(tmp_path):
    out = tmp_path / "vec.h5"
    result = run("train", "--data", vectors(tmp_path), "--val-size", "40", "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    return out


def _trained_images(tmp_path):
    out = tmp_path / "img.h5"
    result = run("train", "--data", images(tmp_path), "--val-size", "20", "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    return out


def test_the_validation_split_of_a_file_is_a_tenth_of_it_unless_chosen(tmp_path):
    data, out = vectors(tmp_path), tmp_path / "m.h5"
    result = run("train", "--data", data, "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert "note: --val-size 20: 10% of the 200 training examples" in result.output
    assert load(out)[1]["train"]["config"]["val_size"] == 20
    chosen = run("train", "--data", data, "--val-size", "50", "--out", out, "--overwrite", *SMALL)
    assert chosen.exit_code == 0 and "note" not in chosen.output
    assert load(out)[1]["train"]["config"]["val_size"] == 50


def test_a_sweep_directory_refuses_other_training_data(tmp_path):
    """Its cells would otherwise count as done for data they were not trained on."""
    out = tmp_path / "sweep"
    sweep = (
        "sweep", "depth", "--values", "1", "--methods", "fc", "--seeds", "1", "--budget",
        "quick", "--set", "epochs=1", "--set", "val_size=40", "--set", "m=16", "--set",
        "train_fraction=1", "--out", out, "--data",
    )  # fmt: skip
    first, other = vectors(tmp_path), vectors(tmp_path, "other.npz", seed=1)
    assert run(*sweep, first).exit_code == 0
    recorded = json.loads((out / "sweep.json").read_text())["data"]
    assert recorded["images"] == 200 and len(recorded["sha256"]) == 64
    refused = one_line_error(run(*sweep, other), 1)
    assert "holds results made on other training data (200 inputs, sha256" in refused
    again = run(*sweep, first)  # the same data: its cell is done, nothing runs
    assert again.exit_code == 0, again.output
    assert len((out / "results.jsonl").read_text().splitlines()) == 1
    beside = (*sweep[:1], "sparsity", "--values", "0.5", *sweep[4:-3], "--out", tmp_path / "s")
    refused = one_line_error(run(*beside, "--beside", out, "--data", other), 1)
    assert "its runs were made on other training data" in refused
    assert not (tmp_path / "s").exists()
    meta = json.loads((out / "sweep.json").read_text())
    del meta["data"]  # a directory made before sweeps recorded their data is still continued
    (out / "sweep.json").write_text(json.dumps(meta))
    assert run(*sweep, first).exit_code == 0
