"""``ddse predict``: the class of each test image or of each given input, written as CSV or .npy
(ddse_np/cli/checkpoints.py, ddse_np/files/predictions.py)."""

import csv
import json

import numpy as np
import pytest
from test_any_data import SMALL as NPZ_RUN
from test_any_data import vectors

from ddse_np.data.mnist import BUNDLED_MNIST, load_split
from ddse_np.files.checkpoint import load
from ddse_np.files.predictions import class_names_array
from ddse_np.nn.evaluate import evaluate, predict

from clitools import one_line_error, run


def test_predictions_of_the_test_images_as_npy_and_csv(trained, tmp_path):
    path, summary = trained
    model = load(path)[0]
    test = load_split(BUNDLED_MNIST, "test")
    expected = predict(model, model.preprocess(test.images))
    as_npy = run("predict", path, tmp_path / "p.npy")
    assert as_npy.exit_code == 0, as_npy.output
    labels = np.load(tmp_path / "p.npy")
    assert labels.dtype == np.uint8 and np.array_equal(labels, expected)
    # the error printed is the one eval reports for the same checkpoint
    error = run("eval", path, "--json").output
    assert f"test error {json.loads(error)['error']:.2f}%" in as_npy.stderr
    assert run("predict", path, tmp_path / "p.csv").exit_code == 0
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["index", "label"] and len(rows) == 1 + len(test)
    assert [int(r[1]) for r in rows[1:]] == expected.tolist()
    assert [int(r[0]) for r in rows[1:]] == list(range(len(test)))


def test_no_inputs_give_no_predictions_and_no_error_rate(trained):
    model = load(trained[0])[0]
    X = model.preprocess(load_split(BUNDLED_MNIST, "test").images[:0])
    assert predict(model, X).shape == (0,)
    with pytest.raises(ValueError, match="no inputs to evaluate"):
        evaluate(model, X, np.zeros(0, np.int64))


def test_outputs_that_are_not_finite_predict_no_class_and_count_as_errors(trained, tmp_path):
    """A diverged model (huge but finite weights) overflows: argmax would call its rows class 0."""
    from ddse_np.files.checkpoint import save

    model, extras = load(trained[0])
    model.params["V"][:] = np.finfo(model.params["V"].dtype).max
    test = load_split(BUNDLED_MNIST, "test")
    X, labels = model.preprocess(test.images[:200]), test.labels[:200]
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(model.forward(X)).all(axis=1)
    assert not finite.all()
    classes = predict(model, X)
    assert (classes[~finite] == -1).all() and (classes[finite] >= 0).all()
    assert evaluate(model, X, labels)["error"] == 100 * np.mean(classes != labels)
    assert evaluate(model, X, labels)["error"] >= 100 * np.mean(~finite)
    diverged = tmp_path / "diverged.h5"
    save(diverged, model, extras["history"], {"config": extras["train"]["config"]})
    np.save(tmp_path / "x.npy", test.images[:200])
    message = one_line_error(
        run("predict", diverged, tmp_path / "p.csv", "--inputs", tmp_path / "x.npy"), 1
    )
    assert "outputs are not finite for" in message and "no predictions written" in message
    assert not (tmp_path / "p.csv").exists()


def test_predictions_of_new_inputs_named_as_the_labels_were(tmp_path):
    data = vectors(tmp_path)
    checkpoint = tmp_path / "vec.h5"
    trained = run("train", "--data", data, "--val-size", "40", "--out", checkpoint, *NPZ_RUN)
    assert trained.exit_code == 0, trained.output
    model = load(checkpoint)[0]
    X = np.random.default_rng(1).standard_normal((9, 6)) + 3.0
    np.save(tmp_path / "new.npy", X)
    np.savez(tmp_path / "new.npz", X=X)
    expected = np.array(["cat", "dog", "emu"])[predict(model, model.preprocess(X))]
    for name in ("new.npy", "new.npz"):
        out = tmp_path / f"from-{name}.npy"
        result = run("predict", checkpoint, out, "--inputs", tmp_path / name)
        assert result.exit_code == 0, result.output
        assert "9 predictions" in result.stderr and "test error" not in result.stderr
        assert np.array_equal(np.load(out), expected)
    # on the .npz's own test split, whose labels are known
    assert "40 predictions (test error" in run("predict", checkpoint, tmp_path / "t.csv").stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["OUT.txt"], "give a file ending in .csv or .npy"),
        (["OUT.csv", "--inputs", "text.npy"], "text.npy: not an .npy file (no NumPy header)"),
        (["OUT.csv", "--inputs", "damaged.npz"], "damaged.npz: X cannot be read"),
        (
            ["OUT.csv", "--inputs", "text.npz"],
            "text.npz: not a readable .npz file (not a zip archive",
        ),
        (["OUT.csv", "--inputs", "one.npy"], "one.npy: the model takes inputs of n = 784"),
        (["OUT.csv", "--inputs", "one.npy"], "(one input? give it as 1 x 28 x 28)"),
        (["OUT.csv", "--inputs", "bad.npy"], "inputs of n = 784 features (28 x 28 images)"),
        (["OUT.csv", "--inputs", "none.npy"], "does not exist"),
        (["OUT.csv", "--inputs", "list.npz"], "no X or X_test array (it holds Y)"),
        (["OUT.csv", "--inputs", "bad.npy", "--data", BUNDLED_MNIST], "not both"),
        (["exists.csv"], "exists: pass --overwrite"),
    ],
)
def test_bad_predictions_end_in_one_line_and_write_nothing(trained, tmp_path, args, message):
    np.save(tmp_path / "bad.npy", np.zeros((3, 20), np.uint8))
    np.savez(tmp_path / "list.npz", Y=np.zeros(3))
    (tmp_path / "text.npy").write_text("0,1,2\n")
    (tmp_path / "text.npz").write_text("0,1,2\n")
    np.save(tmp_path / "one.npy", np.zeros((28, 28), np.uint8))
    np.savez_compressed(tmp_path / "damaged.npz", X=np.random.default_rng(0).random((2000, 6)))
    damaged = bytearray((tmp_path / "damaged.npz").read_bytes())
    damaged[200:400] = bytes(200)  # inside X: its header and the start of its compressed data
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    (tmp_path / "exists.csv").write_text("kept")
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [tmp_path / a if str(a).endswith((".txt", ".csv", ".npy", ".npz")) else a for a in args]
    assert message in one_line_error(run("predict", trained[0], *args), 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "exists.csv").read_text() == "kept"


def test_class_names_are_kept_in_the_smallest_integer_type():
    assert class_names_array(np.array([0, 9, 3])).dtype == np.uint8
    assert class_names_array(np.array([-1, 300])).dtype == np.int16
    assert np.array_equal(class_names_array(np.array([-1, 300])), [-1, 300])
    assert class_names_array(np.array(["a", "b"])).dtype.kind == "U"


def test_inputs_of_another_type_or_scale_than_the_training_data_are_refused(tmp_path):
    """A model trained on floats takes no uint8 pixels (they would be used undivided), and
    inputs that overflow its float32 PCA are refused instead of predicted from NaN."""
    data = vectors(tmp_path)
    checkpoint = tmp_path / "vec.h5"
    trained = run("train", "--data", data, "--val-size", "40", "--out", checkpoint, *NPZ_RUN)
    assert trained.exit_code == 0, trained.output
    np.save(tmp_path / "pixels.npy", np.zeros((4, 6), np.uint8))
    np.save(tmp_path / "huge.npy", np.full((4, 6), 1e300))
    refused = run("predict", checkpoint, tmp_path / "a.csv", "--inputs", tmp_path / "pixels.npy")
    assert "trained on inputs used as given, not on uint8 pixels" in one_line_error(refused, 1)
    huge = run("predict", checkpoint, tmp_path / "b.csv", "--inputs", tmp_path / "huge.npy")
    assert "overflow the model's float32 arithmetic" in one_line_error(huge, 1)
    assert "1e+300" in huge.output and "Warning" not in huge.output
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


def test_test_data_of_other_features_are_refused_before_their_classes(trained, tmp_path):
    data = vectors(tmp_path)  # 6 features, classes cat, dog, emu: wrong on both counts
    for command in ("predict", "eval"):
        extra = [tmp_path / "p.csv"] if command == "predict" else []
        line = one_line_error(run(command, trained[0], *extra, "--data", data), 1)
        assert "takes inputs of n = 784 features, but these have 6" in line
