"""Training batches, with all randomness a pure function of (seed, epoch, batch).

The order of epoch e is a permutation drawn from seed [seed, 1, e]; the
augmentation of batch b of epoch e from [seed, 2, e, b]; dropout masks from
[seed, 3, e, b].  Nothing random carries over from one batch to the next, so a
run resumed at any batch continues exactly as if it had never stopped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..data.augment import augment
from ..data.pca import pca_transform
from ..data.split import Split, flatten
from ..fast import blas_threads, host_cores


class BatchSource:
    """Batches (X : B x n PCA inputs, y : B labels, noise) on the model's backend.

    Without augmentation the PCA inputs are computed once.  With it, the raw
    images stay on the backend and every batch is augmented, then projected.  On
    numpy, when the BLAS leaves a core free (one BLAS thread per job, as in sweeps),
    the next batch is prepared in a background thread while the current one trains
    (``prefetch``; measured: an augmented epoch then costs what a plain one does,
    against +16% without; with the BLAS on every core the extra thread only competes
    with it, so it stays off).  Each batch depends only on (seed, epoch, batch), so
    prefetching changes no result.
    """

    prefetch = None  # None: when blas_threads() < host_cores(); True / False: always / never

    def __init__(self, model, fit: Split, config):
        self.model, self.backend = model, model.backend
        self.seed = config.seed
        self.augment = config.augment_config()
        self.batch_size = config.batch_size
        self.y = self.backend.asarray(fit.labels, dtype=np.int64)
        if self.augment.enabled:
            divisor = model.input_divisor
            self.images = self.backend.asarray(flatten(fit.images, self.backend.dtype, divisor))
            self.clip = divisor != 1.0  # pixels in [0, 1] stay there; other inputs as they are
        else:
            self.X = model.preprocess(fit.images)
        self.count = len(fit)
        self.steps_per_epoch = -(-self.count // self.batch_size)

    def epoch(self, epoch: int, start: int = 0):
        """Yield (batch index, X, y, noise) for batches ``start``, ``start + 1``, ... of ``epoch``.

        ``noise`` is the batch's own stream of uniform draws (shape -> array) for
        dropout and DropConnect masks, to pass to ``model.loss_and_grads``.
        """
        order = np.random.default_rng([self.seed, 1, epoch]).permutation(self.count)
        order = self.backend.asarray(order, dtype=np.int64)
        steps = range(start, self.steps_per_epoch)
        prefetch = blas_threads() < host_cores() if self.prefetch is None else self.prefetch
        if not (self.augment.enabled and prefetch and self.backend.xp is np):
            for b in steps:
                yield (b, *self._batch(order, epoch, b))
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ddse-batches") as pool:
            pending = pool.submit(self._batch, order, epoch, start) if steps else None
            for b in steps:
                batch = pending.result()
                if b + 1 < self.steps_per_epoch:
                    pending = pool.submit(self._batch, order, epoch, b + 1)
                yield (b, *batch)

    def _batch(self, order, epoch: int, b: int):
        """(X, y, noise) of batch ``b`` of ``epoch``."""
        rows = order[b * self.batch_size : (b + 1) * self.batch_size]
        noise = self.backend.uniform_source([self.seed, 3, epoch, b])
        if self.augment.enabled:
            images = self.images[rows].reshape(len(rows), *self.model.input_shape)
            rng = np.random.default_rng([self.seed, 2, epoch, b])
            images = augment(images, self.augment, rng, self.backend, self.clip)
            X = pca_transform(images.reshape(len(rows), -1), self.model.mean, self.model.basis)
        else:
            X = self.X[rows]
        return X, self.y[rows], noise
