"""Augmentation keeps shape, dtype, range and labels; all-off is the identity."""

import numpy as np
import pytest

from ddse_np.backend import to_host
from ddse_np.data.augment import AugmentConfig, augment
from ddse_np.errors import DDSEError

from conftest import make_backend

ALL = AugmentConfig(noise=0.1, blur=1.0, flip=0.5, rotate=15, scale=0.15, elastic=34)


@pytest.fixture
def batch(mnist_small):
    return mnist_small.images[:64].astype(np.float32) / 255.0


@pytest.mark.parametrize("backend_name", ["numpy", "strict"])
@pytest.mark.parametrize(
    "config",
    [
        AugmentConfig(noise=0.2),
        AugmentConfig(blur=1.5),
        AugmentConfig(flip=1.0),
        AugmentConfig(rotate=30),
        AugmentConfig(scale=0.2),
        AugmentConfig(elastic=34),
        ALL,
    ],
)
def test_keeps_shape_dtype_and_range(batch, config, backend_name):
    backend = make_backend(backend_name, "float32")
    out = augment(backend.asarray(batch), config, np.random.default_rng(0), backend)
    host = to_host(out)
    assert host.shape == batch.shape and host.dtype == np.float32
    assert host.min() >= 0.0 and host.max() <= 1.0
    assert not np.allclose(host, batch)


def test_all_off_is_the_identity(batch):
    backend = make_backend("numpy", "float32")
    images = backend.asarray(batch)
    assert augment(images, AugmentConfig(), np.random.default_rng(0), backend) is images


def test_flip_mirrors_left_right(batch):
    backend = make_backend("numpy", "float32")
    out = augment(batch.copy(), AugmentConfig(flip=1.0), np.random.default_rng(0), backend)
    assert np.array_equal(out, batch[:, :, ::-1])


def test_rotation_by_zero_and_unit_scale_is_exact(batch):
    backend = make_backend("numpy", "float32")
    out = augment(batch.copy(), AugmentConfig(rotate=1e-9), np.random.default_rng(0), backend)
    assert np.allclose(out, batch, atol=1e-5)


def test_rotation_moves_mass_but_keeps_it_roughly(batch):
    backend = make_backend("numpy", "float32")
    out = augment(batch.copy(), AugmentConfig(rotate=90), np.random.default_rng(1), backend)
    assert np.allclose(out.sum(axis=(1, 2)), batch.sum(axis=(1, 2)), rtol=0.1)


def test_same_seed_same_batch(batch):
    backend = make_backend("numpy", "float32")
    a = augment(batch.copy(), ALL, np.random.default_rng(3), backend)
    b = augment(batch.copy(), ALL, np.random.default_rng(3), backend)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "config",
    [
        AugmentConfig(noise=-1),
        AugmentConfig(flip=1.5),
        AugmentConfig(scale=1.0),
        AugmentConfig(elastic=-1),
        AugmentConfig(elastic=10, elastic_sigma=0),
        AugmentConfig(blur=1e308),
        AugmentConfig(elastic_sigma=29),
    ],
)
def test_invalid_strengths(config):
    with pytest.raises(DDSEError):
        config.validate()


def test_elastic_alpha_zero_is_the_identity(batch):
    backend = make_backend("numpy", "float32")
    images = backend.asarray(batch)
    assert (
        augment(
            images, AugmentConfig(elastic=0.0, elastic_sigma=6.0), np.random.default_rng(0), backend
        )
        is images
    )
    tiny = augment(images.copy(), AugmentConfig(elastic=1e-9), np.random.default_rng(0), backend)
    assert np.allclose(tiny, batch, atol=1e-5)


def test_elastic_is_reproducible_from_the_seed(batch):
    backend = make_backend("numpy", "float32")
    config = AugmentConfig(elastic=34, rotate=10)
    a, b, c = (
        augment(batch.copy(), config, np.random.default_rng(seed), backend) for seed in (7, 7, 8)
    )
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_elastic_displacement_has_the_smoothed_field_statistics():
    """On a horizontal ramp I(r, c) = c / 27 the output reads I at c + d(p): d is recoverable.
    Its spread must be alpha times that of a Gaussian-smoothed U(-1, 1) field, and it is smooth."""
    from scipy.ndimage import gaussian_filter

    backend = make_backend("numpy", "float64")
    alpha, sigma = 34.0, 4.0
    ramp = np.broadcast_to(np.arange(28) / 27.0, (200, 28, 28)).copy()
    out = augment(
        ramp.copy(),
        AugmentConfig(elastic=alpha, elastic_sigma=sigma),
        np.random.default_rng(0),
        backend,
    )
    inner = (slice(None), slice(8, 20), slice(8, 20))
    d = 27.0 * (out - ramp)[inner]
    expected = alpha * gaussian_filter(
        np.random.default_rng(1).uniform(-1, 1, (200, 28, 28)), (0, sigma, sigma)
    )
    assert 0.7 < d.std() / expected[inner].std() < 1.3
    assert abs(d.mean()) < 0.2 * d.std()
    neighbours = np.corrcoef(d[:, :, :-1].ravel(), d[:, :, 1:].ravel())[0, 1]
    assert neighbours > 0.9  # smoothed over sigma = 4 pixels


@pytest.mark.parametrize("sigma", [0.5, 2.0, 4.0, 9.0])
def test_gaussian_matrix_is_scipys_gaussian_filter(sigma):
    from scipy.ndimage import gaussian_filter

    from ddse_np.data.augment import gaussian_matrix

    field = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28))
    G = gaussian_matrix(sigma)
    assert np.allclose(
        G @ field @ G.T, gaussian_filter(field, (0, sigma, sigma)), rtol=0, atol=1e-12
    )


def test_elastic_displacement_is_alpha_times_the_smoothed_field():
    """A ramp along the columns, I(r, c) = c / 27, warped without rotation or zoom, reads
    I at c + d(p): wherever the point stays inside the image, d must be alpha times the
    Gaussian-smoothed U(-1, 1) field drawn (after the angles and zooms) from the same seed."""
    from scipy.ndimage import gaussian_filter

    backend = make_backend("numpy", "float64")
    N, alpha, sigma = 16, 5.0, 3.0
    ramp = np.broadcast_to(np.arange(28) / 27.0, (N, 28, 28)).copy()
    out = augment(
        ramp.copy(),
        AugmentConfig(elastic=alpha, elastic_sigma=sigma),
        np.random.default_rng(4),
        backend,
    )
    rng = np.random.default_rng(4)
    rng.uniform(0, 0, N), rng.uniform(1, 1, N)  # angles and zooms come first
    field = rng.uniform(-1, 1, (2, N, 28, 28))
    d_rows, d_cols = alpha * gaussian_filter(field, (0, 0, sigma, sigma))
    rows, cols = np.meshgrid(np.arange(28), np.arange(28), indexing="ij")
    inside = (
        (rows + d_rows >= 0) & (rows + d_rows <= 27) & (cols + d_cols >= 0) & (cols + d_cols <= 27)
    )
    assert inside.mean() > 0.5
    assert np.allclose(27.0 * out[inside], (cols + d_cols)[inside], atol=1e-9)
    assert np.all(out[~inside] == 0.0)  # read from outside the image: zero
