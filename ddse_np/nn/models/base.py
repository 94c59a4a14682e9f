"""What every model shares: parameters, preprocessing, the softmax head's loss.

A model holds ``params`` (name -> backend array) and answers
``features(X, train, noise) -> (Z, backprop)``: its final hidden code Z : N x m,
and ``backprop(dZ, grads)``, which *adds* the gradient of every parameter into
``grads`` (a dict with the same keys), Thinc style.  The softmax classifier
``logits = Z V^T + c`` on top is shared and lives here.  ``train=True`` applies
the model's random regularisers (dropout, DropConnect) with masks drawn from
``noise``, a function shape -> uniform [0, 1) draws that the caller passes in
(the training loop gives each batch its own seeded stream); evaluation uses
``train=False``.  The equations of every model are in docs/design.md.
"""

from __future__ import annotations

import numpy as np

from ...backend import Backend
from ...data.pca import pca_transform
from ...data.split import flatten
from ...errors import DDSEError
from ..layers import linear_backward, linear_forward, softmax_xent_backward, softmax_xent_forward

# the model's config entries that describe its data (see :class:`Model`)
DATA_KEYS = ("inputs", "input_shape", "input_divisor", "class_names")


class Model:
    """Base class.

    Attributes
    ----------
    params : dict name -> array, on ``backend``
    config : dict of plain values (model, n, m, k, s, ...), saved in checkpoints; with what the
        model knows of its data (:data:`DATA_KEYS`): ``inputs`` (d, the raw features; n is the
        PCA dimension, d or fewer), ``input_shape`` ([d] or [H, W]), ``input_divisor`` (255 for
        uint8 pixels, else 1) and ``class_names`` (the name of each of the C labels)
    constraints : dict name -> 'row' | 'col' for the sparsity-constrained matrices
    backend : :class:`Backend`
    mean, basis : PCA mean (d) and basis (d x n) on ``backend``, or None before fitting
    """

    name = "model"
    sparse = False  # True for models whose weights carry the s-sparse constraint of eq. (6)
    # the training settings of config.MODEL_SETTINGS this model uses (the others do nothing to it,
    # and ``ddse train`` refuses them for it); ``create`` takes those that shape its start
    settings: tuple = ()
    first_layer = "W1"  # the parameter whose rows act on x_pca (drawn by ``ddse inspect --atoms``)
    code_letter = "Z"  # what the figures call the stage codes: Z0..Zk (H0..Hk for ReLU layers)
    # the stage whose unit use ranks the atoms: Zk, as every stage adds row j's response to unit j
    atom_stage = -1

    def __init__(self, params: dict, config: dict, backend: Backend, mean=None, basis=None):
        self.params = params
        self.config = dict(config)
        self.backend = backend
        self.mean = mean
        self.basis = basis

    @classmethod
    def from_host(cls, host: dict, config: dict, backend: Backend):
        """A model whose parameters are copies of host arrays on ``backend``."""
        return cls({name: backend.asarray(value) for name, value in host.items()}, config, backend)

    @property
    def constraints(self) -> dict:
        return {}

    @property
    def s(self):
        """Nonzeros allowed per row/column of the constrained matrices (None for dense models)."""
        return self.config.get("s")

    @property
    def k(self) -> int:
        return self.config["k"]

    # -- what the model knows of its data (MNIST's, for a config without them) ---------------
    @property
    def inputs(self) -> int:
        """d: the raw features of one input (n, the PCA dimension, is d or fewer)."""
        return int(self.config.get("inputs", self.config["n"]))

    @property
    def input_shape(self) -> tuple:
        """(d,) for vectors, (H, W) for images."""
        shape = self.config.get("input_shape")
        if shape is None:
            shape = (28, 28) if self.inputs == 784 else (self.inputs,)
        return tuple(shape)

    @property
    def input_divisor(self) -> float:
        """What raw inputs are divided by before the PCA: 255 (uint8 pixels) or 1."""
        return float(self.config.get("input_divisor", 255.0))

    @property
    def class_names(self) -> tuple:
        """The name of label c, for c in 0..C-1 (integers or strings)."""
        return tuple(self.config.get("class_names") or range(self.config.get("classes", 10)))

    # -- preprocessing -------------------------------------------------------
    def set_pca(self, mean: np.ndarray, basis: np.ndarray):
        """Attach a PCA fitted on the host (mean: d, basis: d x n).  Raises DDSEError when the
        basis has not the model's n columns."""
        if basis.shape[1] != self.config["n"] or mean.shape != basis.shape[:1]:
            raise DDSEError(
                f"a PCA of {basis.shape[1]} components (of {mean.shape[0]} features) does not "
                f"fit a model of n = {self.config['n']} inputs"
            )
        self.mean = self.backend.asarray(mean)
        self.basis = self.backend.asarray(basis)

    def preprocess(self, images, chunk: int = 8192):
        """Raw inputs (N x d vectors or N x H x W images, host) -> PCA inputs X : N x n on the
        backend: divided by :attr:`input_divisor`, flattened, centred and projected.

        Done ``chunk`` inputs at a time into one output array, so the only
        full-size array is the result.  Raises DDSEError when the inputs have another number
        of features than the model's d.
        """
        if self.mean is None:
            raise DDSEError("this model has no PCA yet: fit one with set_pca(mean, basis)")
        images = np.asarray(images)
        d, n = self.basis.shape
        features = int(np.prod(images.shape[1:])) if images.ndim > 1 else 0
        if features != d or images.ndim < 2:
            given = " x ".join(map(str, images.shape[1:])) or "none"
            shape = self.input_shape
            image = f" ({shape[0]} x {shape[1]} images)" if len(shape) == 2 else ""
            raise DDSEError(
                f"the model takes inputs of n = {d} features{image}, but these have {given}"
            )
        divisor = self.input_divisor
        if divisor != 1.0 and images.dtype != np.uint8:  # never a silent rescaling of floats
            raise DDSEError(
                f"the model was trained on uint8 pixels (divided by {divisor:g}); these inputs are "
                f"{images.dtype}: pass the pixels as uint8"
            )
        out = self.backend.xp.empty((len(images), n), dtype=self.backend.dtype)
        dtype = self.backend.dtype
        for first in range(0, len(images), chunk):
            flat = self.backend.asarray(flatten(images[first : first + chunk], dtype, divisor))
            out[first : first + chunk] = pca_transform(flat, self.mean, self.basis)
        return out

    # -- forward and backward ------------------------------------------------
    def features(self, X, train: bool = True, noise=None, codes: list | None = None):
        """X : N x n -> (Z : N x m, backprop(dZ, grads)).

        ``noise`` (shape -> uniform draws) feeds dropout/DropConnect masks when
        ``train``; None draws them from fresh, unseeded entropy.  ``codes``, when a
        list, receives the code of every stage, Z0 .. Zk (report.code_statistics).
        """
        raise NotImplementedError

    def forward_train(self, X, train: bool = True, noise=None):
        """X : N x n -> (logits = Z V^T + c : N x C, backprop(dlogits, grads))."""
        Z, features_backprop = self.features(X, train, noise)
        logits, head = linear_forward(Z, self.params["V"])
        logits += self.params["c"]

        def backprop(dlogits, grads):
            dZ, _ = linear_backward(dlogits, head, dW=grads["V"])
            grads["c"] += dlogits.sum(axis=0)
            features_backprop(dZ, grads)

        return logits, backprop

    def encode(self, X):
        """X : N x n -> the final hidden code Z : N x m (evaluation mode)."""
        return self.features(X, train=False)[0]

    def forward(self, X):
        """Evaluation: X : N x n -> logits : N x C, no dropout."""
        return self.forward_train(X, train=False)[0]

    def zero_grads(self) -> dict:
        """A gradient dict of zeros, one entry per parameter."""
        xp = self.backend.xp
        return {name: xp.zeros_like(value) for name, value in self.params.items()}

    def loss_and_grads(self, X, y, grads: dict | None = None, train: bool = True, noise=None):
        """Mean softmax cross-entropy of the batch and its gradients.

        X : N x n,  y : N labels.  The gradients are *added* into ``grads``
        when it is given (then zero it after each update), else into fresh zeros.
        ``noise``: the batch's mask source (see :meth:`features`).
        Returns (loss as a Python float, grads).
        """
        if grads is None:
            grads = self.zero_grads()
        logits, backprop = self.forward_train(X, train, noise)
        loss, cache = softmax_xent_forward(logits, y)
        backprop(softmax_xent_backward(cache), grads)
        return float(loss), grads

    def mask_source(self, noise):
        """``noise``, or a fresh unseeded source on this model's backend when it is None."""
        return noise if noise is not None else self.backend.uniform_source(None)

    # -- counts for inspect --------------------------------------------------
    def parameter_count(self) -> int:
        return int(sum(v.size for v in self.params.values()))
