"""Data augmentation (paper 4.2: noise, blur, flipping, rotation, scaling) of H x W images.

Applied to each training batch before PCA, on the batch's backend: scipy.ndimage
on numpy, cupyx.scipy.ndimage on cupy (``Backend.ndimage``).  Each transform has
a strength, and a strength of 0 switches it off; with all of them off the batch
is returned unchanged.  Random draws are made on the host from one generator,
so a seed gives the same augmented batches on every backend.

    noise   sigma of additive Gaussian pixel noise (pixels in [0, 1]); uint8 images (pixels in
            [0, 1] once divided by 255) are clipped back to [0, 1] after all transforms,
            images of other types (used as given) are not clipped
    blur    sigma (pixels) of a Gaussian blur applied to a random half of the batch
    flip    probability of a left-right flip of each image
    rotate  largest rotation in degrees; each image turns by U(-rotate, rotate)
    scale   largest relative zoom; each image is scaled by U(1 - scale, 1 + scale)
    elastic alpha of an elastic distortion (Simard, Steinkraus and Platt 2003, "Best
            practices for convolutional neural networks applied to visual document
            analysis"): per image, a field of U(-1, 1) displacements per pixel and axis,
            smoothed by a Gaussian of ``elastic_sigma`` pixels and scaled by alpha pixels

Rotation, scaling and the elastic displacement are one map per image, done for
the whole batch in a single ``map_coordinates`` call (bilinear, zero outside):
output pixel p reads the input at c + A^{-1}(p - c) + alpha * G_sigma(u)(p), with c
the centre, A the image's rotation and zoom, u its uniform field and G_sigma the
Gaussian filter (scipy.ndimage's ``gaussian_filter``, done as two matrix products,
see ``gaussian_matrix``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from ..errors import DDSEError


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

    def validate(self, shape: tuple | None = (28, 28)):
        """Refuse impossible strengths; ``shape`` (H, W) bounds the sigmas by the image's size:
        MNIST's by default, None while it is not known yet (the bound is then left for later)."""
        for name, value in asdict(self).items():
            if value < 0:
                raise DDSEError(
                    f"--aug-{name.replace('_', '-')} must be non-negative (got {value})"
                )
        if self.flip > 1:
            raise DDSEError(f"--aug-flip is a probability in [0, 1] (got {self.flip})")
        if self.scale >= 1:
            raise DDSEError(f"--aug-scale must be below 1 (got {self.scale})")
        if self.elastic > 0 and self.elastic_sigma <= 0:
            raise DDSEError(f"--aug-elastic-sigma must be positive (got {self.elastic_sigma})")
        # a Gaussian wider than the image would only cost time
        if shape is None or len(shape) != 2:
            return  # no image size known yet (augmentation of vectors is refused elsewhere)
        H, W = shape
        for name in ("blur", "elastic_sigma"):
            if getattr(self, name) > max(H, W):
                raise DDSEError(
                    f"--aug-{name.replace('_', '-')} is a sigma in pixels of a {H} x {W} "
                    f"image: at most {max(H, W)} (got {getattr(self, name)})"
                )


def augment(images, config: AugmentConfig, rng: np.random.Generator, backend, clip=True):
    """Augment a batch.

    images : N x H x W floats on ``backend``  ->  same shape and dtype; clipped to [0, 1] when
    ``clip`` (pixels of uint8 images, divided by 255).
    """
    if not config.enabled:
        return images
    xp, ndimage = backend.xp, backend.ndimage
    N = images.shape[0]
    out = images
    if config.rotate > 0 or config.scale > 0 or config.elastic > 0:
        out = _warp(out, config, rng, backend)
    if config.flip > 0:
        flip = backend.asarray(rng.random(N) < config.flip, dtype=bool)
        out = xp.where(flip[:, None, None], out[:, :, ::-1], out)
    if config.blur > 0:
        blurred = ndimage.gaussian_filter(out, sigma=(0, config.blur, config.blur), mode="constant")
        pick = backend.asarray(rng.random(N) < 0.5, dtype=bool)
        out = xp.where(pick[:, None, None], blurred, out)
    if config.noise > 0:
        out = out + backend.asarray(rng.standard_normal(out.shape) * config.noise)
    if out is not images and clip:
        xp.clip(out, 0.0, 1.0, out=out)
    return out.astype(images.dtype, copy=False)


def _warp(images, config, rng, backend):
    """Warp a batch: each output pixel p reads the input at c + A_j^{-1} (p - c) + d_j(p), image
    j's own map (d_j = 0 without elastic distortion).

    images : N x H x W on ``backend``  ->  N x H x W, same dtype.

    The elastic displacement d of the whole batch (2 x N x H x W: rows, columns) is one pair of
    matrix products (``gaussian_matrix``); the reads are one bilinear ``map_coordinates`` call.
    """
    N, H, W = images.shape
    angle = np.deg2rad(rng.uniform(-config.rotate, config.rotate, N))
    zoom = rng.uniform(1 - config.scale, 1 + config.scale, N)
    cos_j = (np.cos(angle) / zoom)[:, None, None]  # inverse map: rotate back, unzoom
    sin_j = (np.sin(angle) / zoom)[:, None, None]
    dr, dc = _centred_grid(H, W)  # H x W offsets of each pixel from the centre
    coords = np.empty((3, N, H, W), dtype=backend.dtype)  # (image, row, column) to read
    coords[0] = np.arange(N)[:, None, None]
    # float64, stored as the backend's floats; the centre is the point rotation and zoom keep
    coords[1] = (H - 1) / 2.0 + cos_j * dr - sin_j * dc
    coords[2] = (W - 1) / 2.0 + sin_j * dr + cos_j * dc
    coords = backend.xp.asarray(coords)  # already the backend's dtype: no second copy on numpy
    if config.elastic > 0:
        field = backend.asarray(rng.uniform(-1.0, 1.0, (2, N, H, W)))
        Gr = backend.asarray(gaussian_matrix(config.elastic_sigma, H))
        Gc = Gr if W == H else backend.asarray(gaussian_matrix(config.elastic_sigma, W))
        coords[1:] += config.elastic * (Gr @ field @ Gc.T)  # alpha * G_sigma(u)
    return backend.ndimage.map_coordinates(images, coords, order=1, mode="constant", cval=0.0)


@lru_cache(maxsize=None)
def gaussian_matrix(sigma: float, size: int = 28) -> np.ndarray:
    """size x size float64 G (read-only): for an H x W f, G_H @ f @ G_W.T is
    scipy.ndimage.gaussian_filter(f, sigma): column k is that filter's response to a unit pulse at
    pixel k (mode 'reflect', truncated at 4 sigma, as ``gaussian_filter``).  The two products do the
    separable filter's two passes for a whole batch at once: 0.65 ms against 5.0 ms for
    ``gaussian_filter`` on 2 x 128 fields (results/benchmarks/augment_parts_amd.txt), equal up to
    float rounding.
    """
    from scipy.ndimage import gaussian_filter1d

    G = gaussian_filter1d(np.eye(size), sigma, axis=0)
    G.setflags(write=False)
    return G


@lru_cache(maxsize=None)
def _centred_grid(H: int = 28, W: int = 28):
    """(dr, dc): each pixel's row and column offset from the image centre, H x W float64."""
    return np.meshgrid(np.arange(H) - (H - 1) / 2.0, np.arange(W) - (W - 1) / 2.0, indexing="ij")
