"""Data: MNIST-format IDX files, stratified splits and ts/t subsets, the PCA input, augmentation.

Imports only :mod:`ddse_np.errors` and :mod:`ddse_np.backend` from the rest of the package.
"""
