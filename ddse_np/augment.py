"""Data augmentation (paper 4.2: noise, blur, flipping, rotation, scaling) of 28 x 28 images.

Applied to each training batch before PCA, on the batch's backend: scipy.ndimage
on numpy, cupyx.scipy.ndimage on cupy (``Backend.ndimage``).  Each transform has
a strength, and a strength of 0 switches it off; with all of them off the batch
is returned unchanged.  Random draws are made on the host from one generator,
so a seed gives the same augmented batches on every backend.

    noise   sigma of additive Gaussian pixel noise (pixels in [0, 1]), clipped back to [0, 1]
    blur    sigma (pixels) of a Gaussian blur applied to a random half of the batch
    flip    probability of a left-right flip of each image
    rotate  largest rotation in degrees; each image turns by U(-rotate, rotate)
    scale   largest relative zoom; each image is scaled by U(1 - scale, 1 + scale)
    elastic alpha of an elastic distortion (Simard, Steinkraus and Platt 2003, "Best
            practices for convolutional neural networks applied to visual document
            analysis"): per image, a field of U(-1, 1) displacements per pixel and axis,
            smoothed by a Gaussian of ``elastic_sigma`` pixels and scaled by alpha pixels

Rotation, scaling and the elastic displacement are one map per image, done for
the whole batch (or one part of it per thread) in a single ``map_coordinates``
call (bilinear, zero outside):
output pixel p reads the input at c + A^{-1}(p - c) + alpha * G_sigma(u)(p), with c
the centre, A the image's rotation and zoom, u its uniform field and G_sigma the
Gaussian filter (scipy.ndimage's ``gaussian_filter``, done as two matrix products,
see ``gaussian_matrix``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .errors import DDSEError

SIDE = 28
CENTRE = (SIDE - 1) / 2.0  # the point rotation and zoom keep in place


@dataclass
class AugmentConfig:
    noise: float = 0.0
    blur: float = 0.0
    flip: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    elastic: float = 0.0
    elastic_sigma: float = 4.0

    @property
    def enabled(self) -> bool:
        return any(value > 0 for name, value in asdict(self).items() if name != "elastic_sigma")

    def validate(self):
        for name, value in asdict(self).items():
            if value < 0:
                raise DDSEError(f"--aug-{name.replace('_', '-')} must be non-negative (got {value})")
        if self.flip > 1:
            raise DDSEError(f"--aug-flip is a probability in [0, 1] (got {self.flip})")
        if self.scale >= 1:
            raise DDSEError(f"--aug-scale must be below 1 (got {self.scale})")
        if self.elastic > 0 and self.elastic_sigma <= 0:
            raise DDSEError(f"--aug-elastic-sigma must be positive (got {self.elastic_sigma})")
        for name in ("blur", "elastic_sigma"):  # a Gaussian wider than the image would only cost time
            if getattr(self, name) > SIDE:
                raise DDSEError(f"--aug-{name.replace('_', '-')} is a sigma in pixels of a {SIDE} x {SIDE} "
                                f"image: at most {SIDE} (got {getattr(self, name)})")


def augment(images, config: AugmentConfig, rng: np.random.Generator, backend, workers: int = 1):
    """Augment a batch.

    images : N x 28 x 28 floats in [0, 1] on ``backend``  ->  same shape, dtype and range.
    workers : threads sharing the warp on numpy (the result is the same for any number).
    """
    if not config.enabled:
        return images
    xp, ndimage = backend.xp, backend.ndimage
    N = images.shape[0]
    out = images
    if config.rotate > 0 or config.scale > 0 or config.elastic > 0:
        out = _warp(out, config, rng, backend, workers)
    if config.flip > 0:
        flip = backend.asarray(rng.random(N) < config.flip, dtype=bool)
        out = xp.where(flip[:, None, None], out[:, :, ::-1], out)
    if config.blur > 0:
        blurred = ndimage.gaussian_filter(out, sigma=(0, config.blur, config.blur), mode="constant")
        pick = backend.asarray(rng.random(N) < 0.5, dtype=bool)
        out = xp.where(pick[:, None, None], blurred, out)
    if config.noise > 0:
        out = out + backend.asarray(rng.standard_normal(out.shape) * config.noise)
    if out is not images:
        xp.clip(out, 0.0, 1.0, out=out)
    return out.astype(images.dtype, copy=False)


def _warp(images, config, rng, backend, workers: int = 1):
    """Each output pixel p reads the input at c + A_j^{-1} (p - c) + d_j(p), image j's own map
    (d_j = 0 without elastic distortion).

    The random draws come first, in one order, then the batch is cut into ``workers`` parts
    warped in parallel threads (``map_coordinates`` releases the GIL; numpy only).  Every image is
    mapped on its own, so the result does not depend on ``workers``, bit for bit.
    """
    N = images.shape[0]
    angle = np.deg2rad(rng.uniform(-config.rotate, config.rotate, N))
    zoom = rng.uniform(1 - config.scale, 1 + config.scale, N)
    field = rng.uniform(-1.0, 1.0, (2, N, SIDE, SIDE)) if config.elastic > 0 else None
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom  # inverse map: rotate back, unzoom

    def part(lo, hi):
        """Images lo..hi-1, warped."""
        cs, sn = cos[lo:hi, None, None], sin[lo:hi, None, None]
        r, c = _centred_grid()
        coords = np.empty((3, hi - lo, SIDE, SIDE), dtype=backend.dtype)  # (image, row, column)
        coords[0] = np.arange(hi - lo)[:, None, None]
        coords[1] = CENTRE + cs * r - sn * c
        coords[2] = CENTRE + sn * r + cs * c
        coords = backend.xp.asarray(coords)
        if field is not None:
            G = backend.asarray(gaussian_matrix(config.elastic_sigma))
            coords[1:] += config.elastic * (G @ backend.asarray(field[:, lo:hi]) @ G.T)
        return backend.ndimage.map_coordinates(images[lo:hi], coords, order=1, mode="constant", cval=0.0)

    workers = min(workers, N) if backend.xp is np else 1
    if workers <= 1:
        return part(0, N)
    bounds = [N * i // workers for i in range(workers + 1)]
    return np.concatenate(list(_pool(workers, os.getpid()).map(part, bounds[:-1], bounds[1:])))


@lru_cache(maxsize=None)
def gaussian_matrix(sigma: float) -> np.ndarray:
    """SIDE x SIDE float64 G with G @ f @ G.T = scipy.ndimage.gaussian_filter(f, sigma) for a
    SIDE x SIDE f: column k is that filter's response to a unit pulse at pixel k (mode
    'reflect', truncated at 4 sigma, as ``gaussian_filter``).  The two products do the
    separable filter's two passes for a whole batch at once, about 8x faster than
    ``gaussian_filter`` on a batch of fields (equal up to float rounding).
    """
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.eye(SIDE), sigma, axis=0)


@lru_cache(maxsize=None)
def _centred_grid():
    """(r, c): each pixel's row and column offset from the image centre, SIDE x SIDE float64."""
    return np.meshgrid(np.arange(SIDE) - CENTRE, np.arange(SIDE) - CENTRE, indexing="ij")


@lru_cache(maxsize=None)
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """One lasting pool of threads per size and process, so a batch does not pay for starting
    threads (a process forked from one holding a pool starts its own: the threads stay behind)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ddse-augment")
