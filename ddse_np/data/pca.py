"""PCA of the training inputs (paper 3.1): x_pca = D0^T (x - mu).

Fitted on the host in float64 on the training split only.  D0 holds the eigenvectors of the
training covariance, sorted by descending eigenvalue: all n of them, or, when there are fewer
training examples N than input features n, the r = N - 1 that span the centred data (the
covariance has rank at most N - 1; its other eigenvectors are an arbitrary basis of zeros), so
x_pca then has r coordinates.  Each eigenvector's sign is fixed so that its largest-magnitude
entry is positive, which makes the basis reproducible across LAPACK builds.
"""

from __future__ import annotations

import numpy as np


def fit_pca(X: np.ndarray, divisor: float = 1.0, chunk: int = 4096):
    """Fit mean and basis of X / divisor.

    Parameters
    ----------
    X : N x n host array of training inputs, any numeric dtype (raw uint8 pixels
        with divisor=255 give pixels in [0, 1] without a float copy of the data)
    divisor : the inputs are X / divisor, in float64
    chunk : rows converted to float64 at a time (bounds the extra memory)

    Returns
    -------
    mean : n, float64
    basis : n x r, float64, columns = eigenvectors by descending eigenvalue; r = :func:`rank`
    eigenvalues : r, float64, descending
    """
    N, n = X.shape
    rows = [slice(i, i + chunk) for i in range(0, N, chunk)]
    mean = sum(np.asarray(X[r], dtype=np.float64).sum(axis=0) for r in rows) / divisor / N
    if rank(N, n) < n:
        return _fit_by_svd(np.asarray(X, dtype=np.float64) / divisor - mean, mean)
    cov = np.zeros((n, n))
    for r in rows:  # second pass: centered, so the covariance is accurate
        centered = np.asarray(X[r], dtype=np.float64) / divisor - mean
        cov += centered.T @ centered
    cov /= N
    eigenvalues, basis = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, basis = eigenvalues[order], basis[:, order]
    return mean, _fix_signs(basis), eigenvalues


def rank(N: int, n: int) -> int:
    """The number of PCA coordinates of N training examples of n features: min(n, N - 1)."""
    return max(1, min(n, N - 1))


def _fit_by_svd(centred: np.ndarray, mean: np.ndarray):
    """PCA of N x n centred data with N - 1 < n: its r = N - 1 right singular vectors."""
    N = len(centred)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    r = rank(N, centred.shape[1])
    return mean, _fix_signs(vt[:r].T.copy()), singular[:r] ** 2 / N


def _fix_signs(basis: np.ndarray) -> np.ndarray:
    """Each column with its largest-magnitude entry positive."""
    pivot = np.abs(basis).argmax(axis=0)
    signs = np.sign(basis[pivot, np.arange(basis.shape[1])])
    signs[signs == 0] = 1.0
    return basis * signs


def pca_transform(X, mean, basis):
    """N x n inputs -> N x r PCA coordinates, (X - mean) @ basis, on any backend."""
    return (X - mean) @ basis
