"""What every model shares: parameters, the softmax head's loss (and, from
:class:`~ddse_np.nn.models.inputs.Inputs`, what it knows of its inputs and their PCA).

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

from ...backend import Backend
from ..layers import linear_backward, linear_forward, softmax_xent_backward, softmax_xent_forward
from .inputs import Inputs


class Model(Inputs):
    """Base class.

    Attributes
    ----------
    params : dict name -> array, on ``backend``
    config : dict of plain values (model, n, m, k, s, ...), saved in checkpoints, with what the
        model knows of its data (:mod:`ddse_np.nn.models.inputs`)
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
        """name -> 'row' | 'col' for the matrices under the s-sparse constraint (none here)."""
        return {}

    @property
    def s(self):
        """Nonzeros allowed per row/column of the constrained matrices (None for dense models)."""
        return self.config.get("s")

    @property
    def k(self) -> int:
        """The number of unrolled stages (DDSE, LISTA) or of hidden layers after the first."""
        return self.config["k"]

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

    def loss_and_grads(
        self, X, y, grads: dict | None = None, train: bool = True, noise=None, check_labels=True
    ):
        """Mean softmax cross-entropy of the batch (in nats) and its gradients.

        X : N x n,  y : N integer labels in 0..C-1 (C = ``config['classes']``).  The
        gradients are *added* into ``grads`` when it is given (then zero it after each
        update), else into fresh zeros.  ``noise``: the batch's mask source (see
        :meth:`features`).  Returns (loss as a Python float, grads).
        Raises ValueError for labels that are not integers in 0..C-1; ``check_labels=False``
        skips that check (the training loop, whose labels :meth:`Trainer.start` checked once:
        on cupy the check would wait for the device at every step).
        """
        classes = self.params["c"].shape[0]
        if check_labels and (y.dtype.kind not in "iu" or bool(((y < 0) | (y >= classes)).any())):
            raise ValueError(f"labels must be integers in 0..{classes - 1}")
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
        """Entries of every parameter array, zeros included (dense storage, not nonzeros)."""
        return int(sum(v.size for v in self.params.values()))
