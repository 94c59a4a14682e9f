"""The network and its gradients: forward/backward pairs of the layers, the initialisation, the
sparsity projection, DDSE and the five baselines, evaluation (dense or with sparse products).

Imports :mod:`ddse_np.data` (a model carries its PCA) and the backend; nothing above it.
"""
