"""DDSEClassifier, the scikit-learn estimator (ddse_np/sklearn.py): scikit-learn's own checks,
pipelines, grid search, pickling, its checkpoint and its codes."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from ddse_np.sklearn import DDSEClassifier  # noqa: E402

SMALL = dict(m=32, epochs=5, lr=0.05, random_state=0)
TRAINED = dict(SMALL, epochs=10, batch_size=32)  # 140 steps on 450 images: a model that has learnt


@parametrize_with_checks([DDSEClassifier(**SMALL)])
def test_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = np.flatnonzero(np.isin(y, [0, 1, 2, 3]))  # four classes, 720 images of 8 x 8: fast
    keep = np.random.default_rng(0).permutation(keep)  # the file is ordered by writer
    return X[keep] / 16.0, y[keep]


def test_every_setting_is_a_keyword_with_the_command_lines_default():
    from ddse_np.training.config import TrainConfig

    params = DDSEClassifier().get_params()
    defaults = TrainConfig()
    renamed = {"random_state": "seed"}
    own = {"validation_fraction", "sparse_output", "verbose", "random_state"}
    for name, value in params.items():
        if name not in own:
            assert value == getattr(defaults, renamed.get(name, name)), name
    left_out = set(TrainConfig.fields()) - {renamed.get(n, n) for n in params}
    assert left_out == {"val_size", "train_fraction"}  # as validation_fraction; pass less data


def test_fit_predict_and_the_fitted_attributes(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three"])[y]
    clf = DDSEClassifier(**TRAINED).fit(X[:500], names[:500])
    assert list(clf.classes_) == ["one", "three", "two", "zero"]
    assert clf.n_features_in_ == 64 and clf.input_shape_ == (64,)
    assert clf.n_iter_ == 10 == len(clf.loss_curve_) == len(clf.validation_errors_)
    assert 1 <= clf.best_epoch_ <= 10
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(X[500:], names[500:]) > 0.9
    proba = clf.predict_proba(X[500:])
    assert proba.shape == (len(X) - 500, 4) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X[500:]))


def test_transform_is_the_models_final_code_z_k(digits):
    from ddse_np.backend import to_host

    X, y = digits
    clf = DDSEClassifier(**SMALL).fit(X, y)
    Z = clf.transform(X[:50])
    model = clf.model_
    assert np.array_equal(Z, to_host(model.encode(model.preprocess(X[:50]))))
    assert Z.shape == (50, 32) and (Z == 0).any()
    sparse = clf.set_params(sparse_output=True).transform(X[:50])
    assert sparse.format == "csr" and np.array_equal(sparse.toarray(), Z)


def test_outputs_that_are_not_finite_name_no_class(digits):
    """A diverged model's overflowing logits: argmax would call them class 0."""
    X, y = digits
    clf = DDSEClassifier(**SMALL).fit(X, y)
    clf.model_.params["V"][:] = np.finfo(clf.model_.params["V"].dtype).max
    with pytest.raises(ValueError, match="outputs are not finite for"):
        clf.predict(X[:50])


def test_pickle_and_the_checkpoint_give_the_same_predictions(tmp_path, digits):
    X, y = digits
    clf = DDSEClassifier(**SMALL).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))  # and clf keeps its model
    path = tmp_path / "clf.h5"
    clf.save(path)
    loaded = DDSEClassifier.load(path)
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.get_params() == clf.get_params() and loaded.best_epoch_ == clf.best_epoch_
    np.savez(tmp_path / "digits.npz", X_train=X, y_train=y)  # ddse eval reads its file
    from clitools import run

    result = run("eval", path, "--data", tmp_path / "digits.npz")
    assert result.exit_code == 0, result.output
    assert "test error" in result.output


def test_float_labels_save_and_load(tmp_path, digits):
    X, y = digits
    clf = DDSEClassifier(**SMALL).fit(X, y.astype(np.float64))
    clf.save(tmp_path / "f.h5")
    loaded = DDSEClassifier.load(tmp_path / "f.h5")
    assert list(loaded.classes_) == [0.0, 1.0, 2.0, 3.0]
    assert np.array_equal(loaded.predict(X), clf.predict(X))


def test_images_with_augmentation_and_vectors_refused(digits):
    X, y = digits
    images = X.reshape(-1, 8, 8)
    clf = DDSEClassifier(**SMALL, aug_rotate=10).fit(images, y)
    assert clf.input_shape_ == (8, 8) and clf.n_features_in_ == 64
    assert clf.score(images, y) > 0.8
    with pytest.raises(ValueError, match="needs images"):
        DDSEClassifier(**SMALL, aug_rotate=10).fit(X, y)
    with pytest.raises(ValueError, match="64 features"):
        clf.predict(X[:, :10])


@pytest.mark.parametrize("model", ["fc", "fc-dropout", "fc-dropconnect", "lista", "ddse-noskip"])
def test_the_baselines(digits, model):
    X, y = digits
    clf = DDSEClassifier(**dict(TRAINED, lr=0.02), model=model).fit(X, y)
    assert clf.model_.config["model"] == model and clf.score(X, y) > 0.8


def test_pipeline_cross_validation_and_grid_search(digits):
    X, y = digits
    pipe = make_pipeline(MinMaxScaler(), DDSEClassifier(**SMALL))
    scores = cross_val_score(pipe, X * 16, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9
    grid = GridSearchCV(DDSEClassifier(**SMALL), {"k": [1, 2]}, cv=2, n_jobs=2).fit(X, y)
    assert grid.best_params_["k"] in (1, 2) and grid.best_score_ > 0.9


def test_a_frames_column_names_are_kept(digits):
    pandas = pytest.importorskip("pandas")
    X, y = digits
    frame = pandas.DataFrame(X, columns=[f"pixel{i}" for i in range(64)])
    clf = DDSEClassifier(**SMALL).fit(frame, y)
    assert list(clf.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="valid feature names"):  # as scikit-learn's own
        assert np.array_equal(clf.predict(frame), clf.predict(X))


def test_the_package_imports_without_scikit_learn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import ddse_np, ddse_np.cli\n"
        "try:\n    import ddse_np.sklearn\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "DDSEClassifier needs scikit-learn: pip install scikit-learn "
        "(in a checkout: pip install -e '.[sklearn]')"
    )
