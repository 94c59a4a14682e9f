import numpy as np

from ddse_np.data.pca import fit_pca, pca_transform


def test_pca_basis_diagonalises_the_training_covariance(rng):
    X = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    mean, basis, eigenvalues = fit_pca(X)
    assert np.allclose(mean, X.mean(axis=0))
    assert np.allclose(basis.T @ basis, np.eye(6))
    assert np.all(np.diff(eigenvalues) <= 0)
    Y = pca_transform(X, mean, basis)
    assert np.allclose(Y.mean(axis=0), 0)
    cov = Y.T @ Y / len(Y)
    assert np.allclose(cov, np.diag(eigenvalues))


def test_pca_keeps_all_components_and_is_invertible(rng):
    X = rng.random((50, 8))
    mean, basis, _ = fit_pca(X)
    Y = pca_transform(X, mean, basis)
    assert Y.shape == X.shape
    assert np.allclose(Y @ basis.T + mean, X)


def test_pca_sign_convention_is_deterministic(rng):
    X = rng.random((40, 5))
    _, basis, _ = fit_pca(X)
    _, again, _ = fit_pca(X[::-1].copy())  # same data, other order
    assert np.allclose(basis, again)
    pivot = np.abs(basis).argmax(axis=0)
    assert np.all(basis[pivot, np.arange(5)] > 0)


def test_chunked_fit_on_raw_pixels_matches_the_float_fit(rng):
    images = rng.integers(0, 256, size=(300, 16)).astype(np.uint8)
    mean, basis, values = fit_pca(images, divisor=255.0, chunk=64)
    mean2, basis2, values2 = fit_pca(images.astype(np.float64) / 255.0, chunk=10_000)
    assert np.allclose(mean, mean2) and np.allclose(values, values2) and np.allclose(basis, basis2)
