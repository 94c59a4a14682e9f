"""PCA of the training images (paper 3.1): x_pca = D0^T (x - mu).

Fitted on the host in float64 on the training split only.  D0 holds all n
eigenvectors of the training covariance, sorted by descending eigenvalue; each
eigenvector's sign is fixed so that its largest-magnitude entry is positive,
which makes the basis reproducible across LAPACK builds.
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
    basis : n x n, float64, columns = eigenvectors by descending eigenvalue
    eigenvalues : n, float64, descending
    """
    N, n = X.shape
    rows = [slice(i, i + chunk) for i in range(0, N, chunk)]
    mean = sum(np.asarray(X[r], dtype=np.float64).sum(axis=0) for r in rows) / divisor / N
    cov = np.zeros((n, n))
    for r in rows:  # second pass: centered, so the covariance is accurate
        centered = np.asarray(X[r], dtype=np.float64) / divisor - mean
        cov += centered.T @ centered
    cov /= N
    eigenvalues, basis = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, basis = eigenvalues[order], basis[:, order]
    pivot = np.abs(basis).argmax(axis=0)
    signs = np.sign(basis[pivot, np.arange(basis.shape[1])])
    signs[signs == 0] = 1.0
    return mean, basis * signs, eigenvalues


def pca_transform(X, mean, basis):
    """N x n inputs -> N x n PCA coordinates, (X - mean) @ basis, on any backend."""
    return (X - mean) @ basis
