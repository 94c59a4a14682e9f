"""DDSE as a scikit-learn estimator: :class:`DDSEClassifier`.

    from ddse_np.sklearn import DDSEClassifier
    clf = DDSEClassifier(epochs=20, lr=0.05).fit(X_train, y_train)   # X: N x n, or N x H x W
    clf.predict(X_test); clf.predict_proba(X_test); clf.score(X_test, y_test)
    Z = clf.transform(X_test)                  # the final sparse code Z_k, N x m

A thin adapter over :func:`ddse_np.training.run.run_training`, the path ``ddse train`` takes:
the same network, training, best-validation model and checkpoint.  Needs scikit-learn
(``pip install 'ddse-np[sklearn]'``).
"""

from __future__ import annotations

import sys

import numpy as np

from .errors import DDSEError

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import (
        _check_feature_names,
        check_array,
        check_is_fitted,
        column_or_1d,
    )
except ImportError:  # pragma: no cover - exercised by tests/test_sklearn.py in a subprocess
    raise ImportError(
        "DDSEClassifier needs scikit-learn: pip install scikit-learn "
        "(in a checkout: pip install -e '.[sklearn]')"
    ) from None

from .training.config import VAL_FRACTION, TrainConfig

_D = {name: field.default for name, field in TrainConfig.fields().items()}
# the estimator's own names for settings of TrainConfig (scikit-learn's conventions)
RENAMED = {"random_state": "seed"}
NOT_SETTINGS = ("validation_fraction", "sparse_output", "verbose")


class DDSEClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """The Deep Double Sparsity Encoder (Wang et al. 2016, arXiv:1608.06374) or one of its
    baselines, as a scikit-learn classifier and sparse-code transformer.

    Every keyword is a ``ddse train`` option of the same name and default (docs/guide.md), but
    for ``validation_fraction`` (of the training examples held out, stratified, to pick the kept
    epoch and drive the plateau schedule; 0 keeps the last epoch), ``random_state`` (``--seed``;
    None draws one), ``sparse_output`` (``transform`` returns a scipy CSR matrix) and
    ``verbose`` (one line per epoch on stderr).  ``model``: 'ddse' (the paper's), 'fc',
    'fc-dropout', 'fc-dropconnect' (baselines I-III), 'lista' (IV), 'ddse-noskip' (V).

    ``fit(X, y)``: X is N x n (vectors) or N x H x W (images; augmentation needs these); uint8
    inputs are pixels divided by 255, other numbers are used as given.  y: any labels, at
    least 2 classes.  The network's input is the PCA of X (rank min(n, N - 1)).

    Attributes after fit: ``classes_``, ``n_features_in_`` (n, or H * W), ``feature_names_in_``
    (for frames with string column names), ``input_shape_``, ``model_`` (the kept
    :class:`~ddse_np.nn.models.base.Model`), ``history_`` (per-epoch lists), ``loss_curve_``
    (mean training loss per epoch), ``validation_errors_`` (% per epoch, NaN where not
    validated), ``best_epoch_`` (the kept epoch, 1-based), ``n_iter_`` (epochs trained).

    It passes scikit-learn's estimator checks (``sklearn.utils.estimator_checks``, run by
    tests/test_sklearn.py), none excluded; its tags say that ``transform`` returns the model's
    float type rather than X's.
    """

    def __init__(
        self,
        model: str = _D["model"],
        m: int = _D["m"],
        k: int = _D["k"],
        sparsity: float = _D["sparsity"],
        init: str = _D["init"],
        init_sparsity: float = _D["init_sparsity"],
        theta_init: float = _D["theta_init"],
        epochs: int = _D["epochs"],
        batch_size: int = _D["batch_size"],
        lr: float = _D["lr"],
        momentum: float = _D["momentum"],
        schedule: str = _D["schedule"],
        lr_drops: str = _D["lr_drops"],
        project_every: int = _D["project_every"],
        validation_fraction: float = VAL_FRACTION,
        patience: int = _D["patience"],
        val_every: int = _D["val_every"],
        lr_factor: float = _D["lr_factor"],
        min_lr: float = _D["min_lr"],
        keep: str = _D["keep"],
        aug_noise: float = _D["aug_noise"],
        aug_blur: float = _D["aug_blur"],
        aug_flip: float = _D["aug_flip"],
        aug_rotate: float = _D["aug_rotate"],
        aug_scale: float = _D["aug_scale"],
        aug_elastic: float = _D["aug_elastic"],
        aug_elastic_sigma: float = _D["aug_elastic_sigma"],
        random_state=None,
        backend: str = _D["backend"],
        dtype: str = _D["dtype"],
        sparse_output: bool = False,
        verbose: bool = False,
    ):
        self.model = model
        self.m = m
        self.k = k
        self.sparsity = sparsity
        self.init = init
        self.init_sparsity = init_sparsity
        self.theta_init = theta_init
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.schedule = schedule
        self.lr_drops = lr_drops
        self.project_every = project_every
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.val_every = val_every
        self.lr_factor = lr_factor
        self.min_lr = min_lr
        self.keep = keep
        self.aug_noise = aug_noise
        self.aug_blur = aug_blur
        self.aug_flip = aug_flip
        self.aug_rotate = aug_rotate
        self.aug_scale = aug_scale
        self.aug_elastic = aug_elastic
        self.aug_elastic_sigma = aug_elastic_sigma
        self.random_state = random_state
        self.backend = backend
        self.dtype = dtype
        self.sparse_output = sparse_output
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        # the codes come in the model's float type (``dtype``, float32 by default), whatever X's
        tags.transformer_tags.preserves_dtype = []
        return tags

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y):
        """Train on X (N x n or N x H x W) and y (N labels); returns self.

        Raises ValueError for settings or data scikit-learn's conventions call wrong (with the
        one-line message of ``ddse train``), :class:`~ddse_np.training.trainer.NumericalFault`
        when training diverges (inputs of a large scale: standardise them, or lower ``lr``).
        """
        from .data.split import Split
        from .training.run import run_training
        from .training.trainer import Trainer

        X = self._inputs(X, reset=True)
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        if len(y) != len(X):
            raise ValueError(f"X holds {len(X)} examples but y {len(y)} labels")
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"Classifier can't train when only one class is present ({classes})")
        data = Split(X, encoded.astype(np.int64), tuple(classes.tolist()))
        try:
            trainer = Trainer.start(data, self._config(len(X)))
        except DDSEError as exc:
            raise ValueError(str(exc)) from None
        result = run_training(trainer, reporter=_EpochLines() if self.verbose else None)
        if result.fault is not None:
            raise result.fault
        self._fitted(result.model, trainer.history, trainer.progress.best_epoch, classes)
        return self

    def _config(self, count: int) -> TrainConfig:
        params = self.get_params()
        settings = {RENAMED.get(k, k): v for k, v in params.items() if k not in NOT_SETTINGS}
        seed = self.random_state
        if seed is None or not isinstance(seed, (int, np.integer)):
            seed = int(check_random_state(seed).randint(2**31 - 1))
        settings["seed"] = int(seed)
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must lie in [0, 1) (got {self.validation_fraction})"
            )
        settings["val_size"] = int(round(self.validation_fraction * count))
        try:
            config = TrainConfig(**settings)
            config.validate()
        except (DDSEError, TypeError) as exc:
            raise ValueError(str(exc)) from None
        return config

    def _fitted(self, model, history: dict, best_epoch: int, classes):
        self.model_ = model
        self.classes_ = classes
        self.history_ = {name: list(values) for name, values in history.items()}
        self.loss_curve_ = list(history["train_loss"])
        self.validation_errors_ = list(history["val_error"])
        self.n_iter_ = len(history["epoch"])
        self.best_epoch_ = int(best_epoch) if best_epoch else self.n_iter_

    def _inputs(self, X, reset: bool) -> np.ndarray:
        """X checked as scikit-learn does: N x n or N x H x W numbers, finite."""
        _check_feature_names(self, X, reset=reset)
        X = check_array(X, allow_nd=True, dtype="numeric", ensure_min_samples=1)
        if X.ndim not in (2, 3):
            raise ValueError(f"X must be N x n or N x H x W; got shape {X.shape}")
        features = int(np.prod(X.shape[1:]))
        if reset:
            self.n_features_in_ = features
            self.input_shape_ = tuple(X.shape[1:])
        elif features != self.n_features_in_:
            raise ValueError(
                f"X has {features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return X

    # -- using the fitted model ------------------------------------------------------------
    def _logits(self, X) -> np.ndarray:
        from .backend import to_host
        from .nn.evaluate import BATCH as EVAL_BATCH
        from .nn.evaluate import QUIET_OVERFLOW

        check_is_fitted(self, "model_")
        X = self._inputs(X, reset=False)
        model = self.model_
        out = []
        for first in range(0, len(X), EVAL_BATCH):
            chunk = model.preprocess(X[first : first + EVAL_BATCH])
            with np.errstate(**QUIET_OVERFLOW):  # a diverged model's logits: inf or nan, quietly
                out.append(to_host(model.forward(chunk)).astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)))

    def predict_proba(self, X) -> np.ndarray:
        """N x C class probabilities (softmax of the logits), columns in ``classes_`` order."""
        logits = self._logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def decision_function(self, X) -> np.ndarray:
        """N x C logits (N for two classes: the second class's logit minus the first's)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict(self, X) -> np.ndarray:
        """N predicted labels, from ``classes_``.  Raises ValueError where the model's outputs are
        not finite (a diverged model), rather than name a class for them."""
        from .nn.evaluate import classes_of

        predicted = classes_of(self._logits(X))
        if (predicted < 0).any():
            raise ValueError(
                f"the model's outputs are not finite for {int((predicted < 0).sum())} of "
                f"{len(predicted)} inputs (a diverged model?)"
            )
        return self.classes_[predicted]

    def transform(self, X):
        """The final sparse code Z_k of X: N x m floats (scipy CSR with ``sparse_output``)."""
        from .backend import to_host
        from .nn.evaluate import BATCH as EVAL_BATCH

        check_is_fitted(self, "model_")
        X = self._inputs(X, reset=False)
        model = self.model_
        codes = [
            to_host(model.encode(model.preprocess(X[i : i + EVAL_BATCH])))
            for i in range(0, len(X), EVAL_BATCH)
        ]
        Z = np.concatenate(codes) if codes else np.zeros((0, model.config["m"]))
        if self.sparse_output:
            from scipy.sparse import csr_matrix

            return csr_matrix(Z)
        return Z

    def fit_transform(self, X, y=None, **fit_params):
        if y is None:
            raise ValueError("DDSEClassifier learns its codes from labels: fit_transform(X, y)")
        return self.fit(X, y).transform(X)

    # -- files and pickles -----------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to ``path`` as a ddse-np checkpoint (atomically), which
        ``ddse eval``, ``inspect`` and :meth:`load` read."""
        from .files.checkpoint import save

        check_is_fitted(self, "model_")
        estimator = dict(
            params={k: v for k, v in self.get_params().items() if k != "random_state"},
            random_state=self.random_state if isinstance(self.random_state, int) else None,
            best_epoch=self.best_epoch_,
            input_shape=list(self.input_shape_),
            feature_names=list(getattr(self, "feature_names_in_", [])) or None,
        )
        save(path, self.model_, self.history_, dict(estimator=estimator))

    @classmethod
    def load(cls, path, backend: str = "numpy") -> "DDSEClassifier":
        """The estimator saved at ``path`` by :meth:`save` (or any ddse-np checkpoint: a model
        trained by ``ddse train`` predicts as one fitted here).  Raises DDSEError."""
        from .files.checkpoint import load

        model, extras = load(path, backend)
        saved = extras["train"].get("estimator") or {}
        estimator = cls(**saved.get("params", {}), random_state=saved.get("random_state"))
        estimator.n_features_in_ = model.inputs
        estimator.input_shape_ = tuple(saved.get("input_shape") or model.input_shape)
        if saved.get("feature_names"):
            estimator.feature_names_in_ = np.asarray(saved["feature_names"], dtype=object)
        best = saved.get("best_epoch") or extras["train"].get("progress", {}).get("best_epoch")
        estimator._fitted(model, extras["history"], best, np.asarray(model.class_names))
        return estimator

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: on Python 3.11+ it is the live __dict__
        model = state.pop("model_", None)
        if model is not None:  # the backend holds modules: keep host arrays and the config
            from .backend import to_host

            state["_model_state"] = dict(
                params={name: to_host(v) for name, v in model.params.items()},
                config=model.config,
                mean=to_host(model.mean),
                basis=to_host(model.basis),
                backend=model.backend.name,
            )
        return state

    def __setstate__(self, state):
        saved = state.pop("_model_state", None)
        super().__setstate__(state)
        if saved is not None:
            from .backend import as_backend
            from .nn.models import MODELS

            backend = as_backend(saved["backend"], saved["config"]["dtype"])
            model = MODELS[saved["config"]["model"]].from_host(
                saved["params"], saved["config"], backend
            )
            model.set_pca(saved["mean"], saved["basis"])
            self.model_ = model


class _EpochLines:
    """``verbose``: one line per epoch on stderr (the interface of the command line's
    progress reporter)."""

    def start(self, *args):
        pass

    def step(self, loss):
        pass

    def epoch_end(self, row: dict):
        val = "" if row["val_error"] != row["val_error"] else f", val error {row['val_error']:.2f}%"
        print(f"epoch {row['epoch']}: loss {row['train_loss']:.4f}{val}", file=sys.stderr)

    def close(self):
        pass
