"""PCA of the training images (paper 3.1): x_pca = D0^T (x - mu).

Fitted on the host in float64 on the training split only.  D0 holds all n
eigenvectors of the training covariance, sorted by descending eigenvalue; each
eigenvector's sign is fixed so that its largest-magnitude entry is positive,
which makes the basis reproducible across LAPACK builds.
"""
from __future__ import annotations

import numpy as np


def fit_pca(X: np.ndarray):
    """Fit mean and basis.

    Parameters
    ----------
    X : N x n host array of training inputs (pixels in [0, 1])

    Returns
    -------
    mean : n, float64
    basis : n x n, float64, columns = eigenvectors by descending eigenvalue
    eigenvalues : n, float64, descending
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    centered = X - mean
    cov = centered.T @ centered / len(X)
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
