"""What a model knows of its inputs, and the map of raw inputs to the network's x_pca.

A model's ``config`` may describe its data (:data:`DATA_KEYS`): ``inputs`` (d, the raw features
of one input; the network's n, the PCA dimension, is d or fewer), ``input_shape`` ([d] or
[H, W]), ``input_divisor`` (255 for uint8 pixels, else 1) and ``class_names`` (the name of each
of the C labels).  A config without them is an MNIST model's: 28 x 28 uint8 pixels, classes 0..9.
"""

from __future__ import annotations

import numpy as np

from ...data.pca import pca_transform
from ...data.split import flatten
from ...errors import DDSEError

DATA_KEYS = ("inputs", "input_shape", "input_divisor", "class_names")


class Inputs:
    """The input side of :class:`~ddse_np.nn.models.base.Model`: it reads ``config``,
    ``backend``, ``mean`` and ``basis`` of the model."""

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
        of features than the model's d, are not uint8 where the model was trained on uint8
        pixels (or are uint8 where it was not), or overflow the model's float type.
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
            one = " x ".join(map(str, images.shape))
            hint = f" (one input? give it as 1 x {one})" if images.shape == shape else ""
            raise DDSEError(
                f"the model takes inputs of n = {d} features{image}, but these have {given}{hint}"
            )
        divisor = self.input_divisor
        if divisor != 1.0 and images.dtype != np.uint8:  # never a silent rescaling of floats
            raise DDSEError(
                f"the model was trained on uint8 pixels (divided by {divisor:g}); these inputs are "
                f"{images.dtype}: pass the pixels as uint8"
            )
        if divisor == 1.0 and images.dtype == np.uint8:  # nor pixels 0..255 where 0..1 was meant
            raise DDSEError(
                "the model was trained on inputs used as given, not on uint8 pixels; these inputs "
                "are uint8: pass them in the type (and scale) of the training data"
            )
        xp, dtype = self.backend.xp, self.backend.dtype
        out = xp.empty((len(images), n), dtype=dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, in one line
            for first in range(0, len(images), chunk):
                flat = self.backend.asarray(flatten(images[first : first + chunk], dtype, divisor))
                out[first : first + chunk] = pca_transform(flat, self.mean, self.basis)
        if not bool(xp.isfinite(out).all()):
            raise DDSEError(
                f"these inputs overflow the model's {np.dtype(dtype).name} arithmetic (their "
                f"largest magnitude is {float(np.abs(images).max()):.3g}): give inputs on the "
                "scale of the training data"
            )
        return out
